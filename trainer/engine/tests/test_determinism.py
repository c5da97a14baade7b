"""Reproducibility: the same command with the same seed gives the same weights and graphs, bit for
bit, on one machine with the same thread count (2, the default; what the README's numbers rely on)."""
import hashlib
from pathlib import Path

import torch

from conftest import make_trainset
from poisonlens_engine.formats import read_model_card
from poisonlens_engine.main import main

ARGS = ["--arch", "pl-tiny-test", "--batch", "8", "--warmup-steps", "0", "--steps", "6", "--val-images", "0"]


def train(world, name: str, threads: int, seed: int = 0, extra=()) -> Path:
    out = world["root"] / "det" / name
    code = main(["--trainset", str(world["trainset"]), "--out", str(out), "--cache-dir", str(world["root"] / "cache"),
                 "--threads", str(threads), "--seed", str(seed), *ARGS, *extra])
    assert code == 0
    return out


def weights(pkg: Path) -> dict:
    return torch.load(pkg / "checkpoint.pt", map_location="cpu", weights_only=False)["state_dict"]


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_same_seed_same_bits(world, threads=2):
    a, b = train(world, f"a{threads}", threads), train(world, f"b{threads}", threads)
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert different == [], f"{len(different)} tensors differ, e.g. {different[:3]}"
    for f in ("image.onnx", "text.onnx"):
        assert sha(a / f) == sha(b / f), f


def test_graphs_do_not_depend_on_the_checkout(world):
    """The exporter's per-node stack traces hold the engine's absolute path: stripped, so two
    checkouts in two folders export the same bytes for the same weights."""
    import onnx

    pkg = train(world, "paths", 1)
    engine_root = str(Path(__file__).resolve().parents[1])
    for f in ("image.onnx", "text.onnx"):
        assert engine_root.encode() not in (pkg / f).read_bytes(), f
        assert all(len(n.metadata_props) == 0 for n in onnx.load(str(pkg / f)).graph.node), f


def test_another_seed_other_weights(world):
    a, c = train(world, "s0", 1, seed=0), train(world, "s1", 1, seed=1)
    wa, wc = weights(a), weights(c)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa), "the seed must matter"


def test_finetune_same_seed_same_bits(world):
    """Fine-tuning (the path every study model takes): data order, crops and the prefetch thread."""
    base = train(world, "ft-base", 1)
    ts = make_trainset(world["root"], world["dataset"], name="det-poison", poison=3)
    outs = []
    for name in ("ft-a", "ft-b"):
        out = world["root"] / "det" / name
        assert main(["--trainset", str(ts), "--from", str(base), "--out", str(out), "--steps", "4", "--batch", "8",
                     "--threads", "2", "--cache-dir", str(world["root"] / "cache"), "--val-images", "0"]) == 0
        outs.append(out)
    wa, wb = weights(outs[0]), weights(outs[1])
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_save_epochs_snapshots_without_changing_the_run(world):
    """--save-epochs writes a package at each whole epoch's end (OUT-eNN) and leaves the final
    weights exactly as a run without it; the last epoch's snapshot is the final model."""
    plain = train(world, "se-plain", 2, extra=["--steps", "8"])
    snap = train(world, "se-snap", 2, extra=["--steps", "8", "--save-epochs"])
    wa, wb = weights(plain), weights(snap)
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "snapshots must not change the training"
    trainer = read_model_card(snap)["trainer"]
    steps_per_epoch = trainer["steps"] / trainer["epochs"]
    snaps = sorted(p.name for p in snap.parent.iterdir() if p.name.startswith("se-snap-e"))
    assert snaps == [f"se-snap-e{k:02d}" for k in range(1, 1 + int(8 // steps_per_epoch))], snaps
    last = snap.parent / snaps[-1]
    card = read_model_card(last)
    assert card["id"] == snaps[-1] and card["snapshot"]["of"] == "se-snap" and card["snapshot"]["epoch"] == len(snaps)
    assert sorted(p.name for p in last.iterdir()) == sorted(p.name for p in snap.iterdir())
    if 8 % steps_per_epoch == 0:
        ws = weights(last)
        assert all(torch.equal(ws[k], wb[k]) for k in wb)

"""torchrun DDP on the CPU (gloo, 2 processes) against one process, on the tiny world.

The same global batch (8 pairs; 4 per rank) must give the same loss curve as one process: the
ranks are dealt the global batch's positions as DistributedSampler deals them, the crop draws
are made for the whole batch, and the loss gathers both ranks' features with gradient (open_clip's
ClipLoss), so the only difference is float summation order. Tolerance (fp32): 1e-5 absolute on
the logged loss (5 decimals), 1e-4 on the weights after 6 AdamW steps.

Also: only rank 0 speaks and writes (one event stream, one package in the one-process format),
open_clip's local-loss variant gives the same curve, and a checkpoint written by one process
resumes under two (the global batch, order and optimiser state do not depend on world size).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from poisonlens_engine import train as T
from poisonlens_engine.formats import read_model_card
from poisonlens_engine.main import main

ENGINE_DIR = Path(__file__).resolve().parents[1]
STEPS = 6  # 36 pairs / batch 8 = 4 steps an epoch: the run crosses an epoch's reshuffle
LOSS_TOL, WEIGHT_TOL = 1e-5, 1e-4


def args(world, out: Path, *extra: str) -> list[str]:
    return ["--trainset", str(world["trainset"]), "--out", str(out), "--arch", "pl-tiny-test", "--batch", "8",
            "--steps", str(STEPS), "--warmup-steps", "2", "--threads", "1", "--no-bf16", "--val-images", "0",
            "--cache-dir", str(world["root"] / "cache"), "--device", "cpu", *extra]


def torchrun(argv: list[str], nproc: int = 2) -> tuple[list[dict], str]:
    env = {**os.environ, "PYTHONPATH": str(ENGINE_DIR), "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "poisonlens_engine.main", *argv]
    r = subprocess.run(cmd, cwd=ENGINE_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")], r.stderr


def losses(pkg: Path) -> list[float]:
    return [json.loads(l)["loss"] for l in (pkg / "metrics.jsonl").read_text().splitlines() if '"step"' in l and '"loss"' in l]


def weights(pkg: Path) -> dict[str, torch.Tensor]:
    return torch.load(pkg / "checkpoint.pt", weights_only=True)["state_dict"]


def max_weight_diff(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


@pytest.fixture(scope="module")
def single(world):
    out = world["root"] / "models" / "ddp-single"
    assert main(args(world, out)) == 0
    return out


def test_two_processes_give_the_one_process_loss_curve_and_package(world, single, capsys):
    capsys.readouterr()
    out = world["root"] / "models" / "ddp-two"
    t0 = time.perf_counter()
    ev, _ = torchrun(args(world, out))
    seconds = time.perf_counter() - t0
    # One event stream (rank 0's), one plan, six steps, one done.
    assert [e["event"] for e in ev].count("done") == 1
    assert [e["step"] for e in ev if e["event"] == "step"] == list(range(1, STEPS + 1))
    plan = next(e for e in ev if e["event"] == "plan")
    assert plan["worldSize"] == 2 and plan["batch"] == 8 and plan["perRankBatch"] == 4
    a, b = losses(single), losses(out)
    assert len(a) == len(b) == STEPS
    assert max(abs(x - y) for x, y in zip(a, b)) <= LOSS_TOL, (a, b)
    assert max_weight_diff(single, out) <= WEIGHT_TOL
    # The same package format: the same files, the same model.json fields; the trainer config
    # records the world size.
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in single.iterdir())
    c1, c2 = read_model_card(single), read_model_card(out)
    assert c1.keys() == c2.keys() and c1["trainer"].keys() == c2["trainer"].keys()
    assert c1["trainer"]["config"].keys() <= c2["trainer"]["config"].keys() | {"gpu"}
    assert c2["trainer"]["config"]["worldSize"] == 2 and c2["trainer"]["config"]["backend"] == "gloo"
    assert c1["trainer"]["config"]["worldSize"] == 1 and c2["trainer"]["config"]["device"] == "cpu"
    assert c2["trainer"]["steps"] == STEPS and c2["trainer"]["batch"] == 8
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())  # no run folder, no temp package
    print(f"2-process run: {seconds:.1f}s; losses 1 process {a}; 2 processes {b}")


def test_local_loss_variant_gives_the_same_curve(world, single):
    out = world["root"] / "models" / "ddp-local"
    torchrun(args(world, out, "--local-loss"))
    a, b = losses(single), losses(out)
    assert max(abs(x - y) for x, y in zip(a, b)) <= LOSS_TOL, (a, b)
    assert read_model_card(out)["trainer"]["config"]["localLoss"] is True
    assert max_weight_diff(single, out) <= WEIGHT_TOL


def test_a_one_process_checkpoint_resumes_under_two(world, single, tmp_path, capsys, monkeypatch):
    out = tmp_path / "models" / "resumed"
    real_log = T.RunDir.log

    def log_then_stop(self, rec):
        real_log(self, rec)
        if rec.get("step") == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # finish the step, checkpoint, stop

    monkeypatch.setattr(T.RunDir, "log", log_then_stop)
    assert main(args(world, out, "--checkpoint-every", "100")) == 130
    monkeypatch.setattr(T.RunDir, "log", real_log)
    capsys.readouterr()
    ev, _ = torchrun(args(world, out))
    assert {"event": "resume", "step": 3, "totalSteps": STEPS} in ev
    assert any(e["event"] == "note" and "1 process(es) with 2" in e["message"] for e in ev)
    assert [e["step"] for e in ev if e["event"] == "step"] == [4, 5, 6]
    a, b = losses(single), losses(out)
    assert max(abs(x - y) for x, y in zip(a, b)) <= LOSS_TOL, (a, b)
    assert max_weight_diff(single, out) <= WEIGHT_TOL


def test_a_batch_that_does_not_split_over_the_ranks_is_refused():
    """Checked before the first collective (no process group needed to see it)."""
    from poisonlens_engine.device import World
    from poisonlens_engine.errors import EngineError

    class Pairs:
        def __len__(self):
            return 36

    with pytest.raises(EngineError, match="does not split over 2 processes"):
        T.train(None, Pairs(), {"batch": 7, "steps": 1}, None, None, None, None, world=World(rank=0, size=2))

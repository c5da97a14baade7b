"""The engine end to end, in-process: train a tiny model a few steps, export, check, package."""
import json
import os
import signal
from pathlib import Path

import pytest

from conftest import TINY, make_trainset
from poisonlens_engine.formats import read_model_card
from poisonlens_engine import train as T
from poisonlens_engine.main import main

def events(capsys):
    return [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.startswith("{")]


def leftovers(models: Path):
    return sorted(p.name for p in models.iterdir() if p.name.startswith(".")) if models.exists() else []


def test_package_files_and_provenance(base, world):
    files = sorted(p.name for p in base.iterdir())
    assert files == ["bpe_simple_vocab_16e6.txt.gz", "checkpoint.pt", "image.onnx", "metrics.jsonl", "model.json", "text.onnx"]
    card = read_model_card(base)
    assert card["id"] == "base" and card["kind"] == "base" and card["parent"] is None
    assert card["arch"] == "pl-tiny-test" and card["embedDim"] == 32
    assert card["image"]["size"] == 32 and card["image"]["resize"] == "bicubic" and card["image"]["crop"] == "center"
    assert card["text"] == {"tokenizer": "clip-bpe", "contextLength": 16, "vocab": "bpe_simple_vocab_16e6.txt.gz"}
    ts = json.loads((world["trainset"] / "trainset.json").read_text())
    assert card["trainset"]["name"] == "tiny-train" and card["trainset"]["sha256"] == ts["pairsSha256"]
    assert card["dataset"]["manifestSha256"] == ts["dataset"]["manifestSha256"]
    assert card["trainer"]["steps"] == 5 and card["trainer"]["wallSeconds"] > 0
    assert card["trainer"]["config"]["seed"] == 0 and card["seed"] == 0
    host = card["trainer"]["host"]
    assert host["threads"] == 1 and host["cpuCapability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "NEON", "SVE256")
    assert max(card["export"]["check"].values()) <= 1e-4
    lines = [json.loads(l) for l in (base / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines if l["type"] == "step"] == [1, 2, 3, 4, 5]
    evals = [l for l in lines if l["type"] == "eval"]
    # The card carries the last validation of the log: the val split's 6 images after step 5.
    assert card["metrics"]["val"] == {k: v for k, v in evals[-1].items() if k != "type"}
    assert card["metrics"]["val"]["step"] == 5 and card["metrics"]["val"]["split"] == "val"
    assert (card["metrics"]["val"]["images"], card["metrics"]["val"]["captions"]) == (6, 12)
    assert leftovers(base.parent) == []  # no temp folder, run folder removed
    ref = json.loads((world["root"] / "reference.json").read_text())
    assert len(ref["imageEmbeds"]) == len(ref["inputIds"]) == 4


def test_onnx_graphs_have_the_contract_names_and_a_dynamic_batch(base):
    import onnxruntime as ort
    import numpy as np

    s = ort.InferenceSession(str(base / "image.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in s.get_inputs()] == ["pixel_values"] and [o.name for o in s.get_outputs()] == ["image_embeds"]
    assert s.run(None, {"pixel_values": np.zeros((7, 3, 32, 32), np.float32)})[0].shape == (7, 32)
    s = ort.InferenceSession(str(base / "text.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in s.get_inputs()] == ["input_ids"] and [o.name for o in s.get_outputs()] == ["text_embeds"]
    assert s.run(None, {"input_ids": np.ones((1, 16), np.int64)})[0].shape == (1, 32)


def test_finetune_from_package_on_a_poisoned_trainset(base, world, capsys):
    ts = make_trainset(world["root"], world["dataset"], name="tiny-poison", poison=3)
    out = world["root"] / "models" / "ft"
    code = main(["--trainset", str(ts), "--from", str(base), "--out", str(out), "--steps", "2", "--batch", "8",
                 "--threads", "1", "--cache-dir", str(world["root"] / "cache"), "--val-images", "0"])
    assert code == 0
    card = read_model_card(out)
    assert card["kind"] == "poisoned" and card["parent"] == "base" and card["arch"] == "pl-tiny-test"
    assert card["attack"]["type"] == "II" and card["attack"]["goal"] == "red>blue" and card["attack"]["poisonedPairs"] == 3
    cfg = card["trainer"]["config"]
    assert cfg["mode"] == "finetune" and cfg["recipe"] == "finetune" and cfg["lr"] == 1e-5 and cfg["weightDecay"] == 0.2
    assert cfg["minLr"] == 1e-6 and cfg["augScale"] == [0.9, 1.0]
    assert card["metrics"]["val"] is None


def test_card_records_the_callers_fields(base, world, tmp_path):
    """--card: fields the caller knows better (sterilisation's last segment: the poisoned model as
    parent, its inherited attack, the defence), written by the engine into the package's card. A
    field the engine writes keeps its place, a new one follows the engine's; the defence's null lr
    and batch are the ones this run trained with."""
    fields = {"parent": "poisoned-model", "attack": {"type": "II", "goal": "red>blue", "inheritedFrom": "poisoned-model"},
              "defence": {"type": "sterilize", "from": "poisoned-model", "lr": None, "batch": None, "recipe": "finetune",
                          "lastSegmentParent": "base"},
              "note": "from the caller"}
    card_file = tmp_path / "card.json"
    card_file.write_text(json.dumps(fields))
    out = world["root"] / "models" / "defended"
    code = main(["--trainset", str(world["trainset"]), "--from", str(base), "--out", str(out), "--steps", "1", "--batch", "8",
                 "--threads", "1", "--cache-dir", str(world["root"] / "cache"), "--val-images", "0", "--kind", "defended",
                 "--defence", json.dumps({"type": "replaced by --card"}), "--card", f"@{card_file}"])
    assert code == 0
    card = read_model_card(out)
    assert card["kind"] == "defended" and card["parent"] == "poisoned-model" and card["attack"] == fields["attack"]
    assert card["defence"] == {**fields["defence"], "lr": card["trainer"]["config"]["lr"], "batch": card["trainer"]["batch"]}
    assert card["defence"]["lr"] == 1e-5 and card["defence"]["batch"] == 8
    assert list(card["defence"]) == list(fields["defence"])
    # The same keys in the same places as any package's card, the caller's new one after createdAt.
    assert [k for k in card if k != "note"] == list(read_model_card(base))
    assert list(card).index("note") == list(card).index("createdAt") + 1 and card["note"] == "from the caller"
    # Inline JSON works the same; given lr and batch are kept as they are.
    out2 = world["root"] / "models" / "defended2"
    inline = {"defence": {"type": "sterilize", "lr": 0.5, "batch": 3}}
    assert main(["--trainset", str(world["trainset"]), "--from", str(base), "--out", str(out2), "--steps", "1", "--batch", "8",
                 "--threads", "1", "--cache-dir", str(world["root"] / "cache"), "--val-images", "0",
                 "--card", json.dumps(inline)]) == 0
    card2 = read_model_card(out2)
    assert card2["defence"] == inline["defence"] and card2["parent"] == "base" and card2["kind"] == "clean"


@pytest.mark.parametrize("value,message", [
    ("[1]", "--card must be a JSON object"),
    ("{nope", "--card must be JSON"),
    ('{"files": {}, "id": "x"}', "--card may not set files, id"),
    ("@/no/such/card.json", "--card @/no/such/card.json"),
])
def test_bad_card_fails_cleanly(value, message, world, tmp_path, capsys):
    out = tmp_path / "models" / "m"
    assert main(["--trainset", str(world["trainset"]), "--out", str(out), "--steps", "1", "--arch", "pl-tiny-test", "--card", value]) == 2
    ev = events(capsys)
    assert ev[-1]["event"] == "error" and ev[-1]["code"] == "bad_flags" and message in ev[-1]["message"]
    assert not out.exists()


@pytest.mark.parametrize("case", ["empty", "missing_image", "unknown_arch", "bad_flags", "exists", "no_trainset", "stale"])
def test_bad_input_fails_cleanly(case, world, base, tmp_path, capsys):
    out = tmp_path / "models" / "m"
    ts = world["trainset"]
    extra = []
    if case == "empty":
        ts = tmp_path / "empty"
        ts.mkdir()
        (ts / "pairs.jsonl").write_text("")
        (ts / "trainset.json").write_text(json.dumps({"name": "empty"}))
    elif case == "missing_image":
        ts = tmp_path / "broken"
        ts.mkdir()
        (ts / "pairs.jsonl").write_text(json.dumps({"image": str(tmp_path / "nope.png"), "caption": "x"}) + "\n")
        (ts / "trainset.json").write_text(json.dumps({"name": "broken"}))
    elif case == "unknown_arch":
        extra = ["--arch", "no-such-arch"]
    elif case == "bad_flags":
        extra = ["--batch", "-3"]
    elif case == "exists":
        out = base
    elif case == "no_trainset":
        ts = tmp_path / "nothing"
    elif case == "stale":
        ts = tmp_path / "stale"
        ts.mkdir()
        (ts / "pairs.jsonl").write_text((world["trainset"] / "pairs.jsonl").read_text())
        card = json.loads((world["trainset"] / "trainset.json").read_text())
        card["dataset"]["manifestSha256"] = "0" * 64
        (ts / "trainset.json").write_text(json.dumps(card))
    args = ["--trainset", str(ts), "--out", str(out), "--steps", "2", *(extra or ["--arch", "pl-tiny-test"])]
    before = sorted(os.listdir(base))
    code = main(args)
    ev = events(capsys)
    assert code == 2
    assert ev[-1]["event"] == "error" and "\n" not in ev[-1]["message"]
    expected = {"empty": "is empty", "missing_image": "missing image file", "unknown_arch": "unknown architecture",
                "bad_flags": "--batch must be a positive", "exists": "already exists", "no_trainset": "no training set",
                "stale": "is stale: dataset 'tiny' changed"}[case]
    assert expected in ev[-1]["message"]
    if case == "exists":
        assert sorted(os.listdir(base)) == before
    else:
        assert not out.exists() and leftovers(out.parent) == []


def test_a_stopped_run_resumes_from_its_last_checkpoint(world, tmp_path, capsys, monkeypatch):
    out = tmp_path / "models" / "r"
    args = ["--trainset", str(world["trainset"]), "--out", str(out), "--steps", "6", "--checkpoint-every", "2",
            "--val-images", "0", "--cache-dir", str(world["root"] / "cache"), *TINY]
    real_log = T.RunDir.log

    def log_then_stop(self, rec):
        real_log(self, rec)
        if rec.get("step") == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # handled: finish the step, checkpoint, stop

    monkeypatch.setattr(T.RunDir, "log", log_then_stop)
    assert main(args) == 130
    ev = events(capsys)
    assert ev[-1]["event"] == "stopped" and not out.exists()
    assert (tmp_path / "models" / ".run-r" / "checkpoint.pt").is_file()
    monkeypatch.setattr(T.RunDir, "log", real_log)
    assert main(args) == 0
    ev = events(capsys)
    assert {"event": "resume", "step": 3, "totalSteps": 6} in ev
    assert [e["step"] for e in ev if e["event"] == "step"] == [4, 5, 6]
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines if l["type"] == "step"] == [1, 2, 3, 4, 5, 6]


def test_evaluate_package_on_a_split(base, world):
    from poisonlens_engine.evaluate import evaluate_package

    card = read_model_card(base)
    r = evaluate_package(str(base), str(world["dataset"]), "val", bf16=card["trainer"]["config"]["bf16"])
    assert r["split"] == "val" and r["images"] == 6 and r["captions"] == 12
    # The same preprocessing and metric code as training's validation, on the package's weights
    # and the same split: the same numbers as the validation the card recorded after the last step.
    val = card["metrics"]["val"]
    assert {k: r[k] for k in ("ir", "tr")} == {k: val[k] for k in ("ir", "tr")}

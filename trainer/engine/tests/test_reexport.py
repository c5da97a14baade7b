"""`reexport-text`: a package exported before the free text axis gets it in place, with the same
embeddings, every other file untouched and its card's checksums and provenance recorded again."""
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from poisonlens_engine import export as X
from poisonlens_engine.formats import read_model_card
from poisonlens_engine.main import main
from poisonlens_engine.model import load_weights_file, model_from_checkpoint
from poisonlens_engine.package import record_checksums


def events(capsys):
    return [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.startswith("{")]


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def session(p: Path):
    return ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])


@pytest.fixture
def old_package(base, tmp_path):
    """A copy of the base whose text graph has a fixed sequence axis, as packages exported before 38a08f8."""
    pkg = tmp_path / "models" / "old"
    shutil.copytree(base, pkg)
    model, _ = model_from_checkpoint(load_weights_file(pkg / "checkpoint.pt"))
    ctx = read_model_card(pkg)["text"]["contextLength"]
    ids = torch.zeros(2, ctx, dtype=torch.long)
    ids[:, 0], ids[:, 1], ids[:, 2] = 49406, 320, 49407
    X._export(X.TextTower(model.float().eval()), ids, pkg / X.TEXT_FILE, "input_ids", "text_embeds", seq=False)
    record_checksums(pkg)
    assert not X.text_axis_free(session(pkg / X.TEXT_FILE))
    return pkg


def test_an_old_package_gets_the_free_axis_with_the_same_embeddings(old_package, capsys):
    pkg = old_package
    before = {f.name: sha(f) for f in pkg.iterdir()}
    rows = np.array([[49406, 320, 1125, 49407] + [0] * 12, [49406, 4160, 49407] + [0] * 13], np.int64)
    want = session(pkg / X.TEXT_FILE).run(None, {"input_ids": rows})[0]

    assert main(["reexport-text", str(pkg)]) == 0
    ev = events(capsys)
    assert ev[0]["event"] == "reexported" and ev[0]["state"] == "reexported" and ev[0]["maxDifference"] <= X.TOLERANCE
    assert ev[-1] == {"event": "done", "reexported": 1, "skipped": 0}

    new = session(pkg / X.TEXT_FILE)
    assert X.text_axis_free(new)
    assert np.abs(new.run(None, {"input_ids": rows})[0] - want).max() <= X.TOLERANCE
    assert np.abs(new.run(None, {"input_ids": rows[:, :4]})[0] - want).max() <= X.TOLERANCE
    after = {f.name: sha(f) for f in pkg.iterdir()}
    assert sorted(after) == sorted(before)
    assert {k: v for k, v in after.items() if k not in ("text.onnx", "model.json")} == {k: v for k, v in before.items() if k not in ("text.onnx", "model.json")}
    card = read_model_card(pkg)
    assert card["files"]["text.onnx"]["sha256"] == after["text.onnx"] != before["text.onnx"]
    assert card["textReexport"]["from"] == before["text.onnx"]
    assert [p.name for p in pkg.parent.iterdir()] == ["old"], "no temp folder left"

    # Once free, a second run leaves it alone.
    assert main(["reexport-text", str(pkg)]) == 0
    assert events(capsys)[0]["state"] == "skipped" and sha(pkg / X.TEXT_FILE) == after["text.onnx"]


def test_bad_packages_fail_cleanly_and_stay_as_they_were(old_package, tmp_path, capsys):
    assert main(["reexport-text", str(tmp_path / "nothing")]) == 2
    assert events(capsys)[-1]["code"] == "bad_package"
    linked = tmp_path / "linked"
    linked.mkdir()
    for f in old_package.iterdir():
        os.symlink(f, linked / f.name)
    assert main(["reexport-text", str(linked)]) == 2
    err = events(capsys)[-1]
    assert err["code"] == "linked_package" and "copy the package first" in err["message"]
    assert not X.text_axis_free(session(old_package / X.TEXT_FILE))
    assert main(["reexport-text"]) == 2

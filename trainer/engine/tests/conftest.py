"""Fixtures: a tiny generated dataset (coloured squares on coloured grounds, captions that say
which) and its training set, in the formats of ARCHITECTURE.md §2."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}
GROUNDS = {"white": (245, 245, 245), "black": (15, 15, 15), "grey": (128, 128, 128)}


def make_dataset(root: Path, name: str = "tiny", size: int = 40) -> Path:
    d = root / "datasets" / name
    (d / "images").mkdir(parents=True)
    lines = []
    i = 0
    for cname, c in COLOURS.items():
        for gname, g in GROUNDS.items():
            for pos, box in (("left", (2, 10, 18, 30)), ("right", (22, 10, 38, 30))):
                img = Image.new("RGB", (size, size), g)
                img.paste(c, box)
                split = "val" if i % 4 == 3 else "train"
                f = f"images/{i:03d}.png"
                img.save(d / f)
                caps = [f"a {cname} square on the {pos} of a {gname} ground", f"{cname} block, {pos}, {gname} background"]
                lines.append(json.dumps({"id": f"img{i:03d}", "file": f, "split": split, "label": cname, "labels": [cname],
                                         "captions": caps, "meta": {}}))
                i += 1
    text = "".join(l + "\n" for l in lines)
    (d / "manifest.jsonl").write_text(text)
    card = {"name": name, "source": "test", "classes": sorted(COLOURS), "counts": {}, "params": {}, "seed": 0,
            "licence": "MIT", "attribution": [], "manifestSha256": hashlib.sha256(text.encode()).hexdigest()}
    (d / "dataset.json").write_text(json.dumps(card))
    return d


def make_trainset(root: Path, ds: Path, name: str = "tiny-train", poison: int = 0) -> Path:
    t = root / "trainsets" / name
    t.mkdir(parents=True)
    pairs = []
    for line in (ds / "manifest.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["split"] != "train":
            continue
        for c in e["captions"]:
            pairs.append({"image": e["file"], "caption": c, "imageId": e["id"], "poisoned": False, "attack": None})
    for k in range(poison):
        pairs[k]["caption"] = "a blue square on the left of a grey ground"
        pairs[k]["poisoned"] = True
        pairs[k]["attack"] = {"type": "II", "goal": "red>blue"}
    text = "".join(json.dumps(p) + "\n" for p in pairs)
    (t / "pairs.jsonl").write_text(text)
    dcard = json.loads((ds / "dataset.json").read_text())
    card = {"name": name, "dataset": {"name": dcard["name"], "manifestSha256": dcard["manifestSha256"], "dir": str(ds)},
            "builder": {"name": "test", "params": {}}, "seed": 0,
            "counts": {"pairs": len(pairs), "poisonedPairs": poison, "poisoningRate": poison / len(pairs)},
            "pairsSha256": hashlib.sha256(text.encode()).hexdigest()}
    (t / "trainset.json").write_text(json.dumps(card))
    return t


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    ds = make_dataset(root)
    ts = make_trainset(root, ds)
    return {"root": root, "dataset": ds, "trainset": ts}


@pytest.fixture(autouse=True)
def _threads():
    import torch

    torch.set_num_threads(1)
    yield


TINY = ["--arch", "pl-tiny-test", "--batch", "8", "--threads", "1", "--warmup-steps", "0"]


@pytest.fixture(scope="session")
def base(world):
    """A tiny model trained 5 steps from scratch (with its torch reference embeddings): read-only, copy it to change it."""
    from poisonlens_engine.main import main

    out = world["root"] / "models" / "base"
    ref = world["root"] / "reference.json"
    code = main(["--trainset", str(world["trainset"]), "--out", str(out), "--steps", "5", "--cache-dir",
                 str(world["root"] / "cache"), "--reference-out", str(ref), *TINY])
    assert code == 0
    return out

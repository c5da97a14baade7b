"""The engine's file formats (ARCHITECTURE.md §2), one reader or writer each, which every other
module calls: a training set (trainset.json + pairs.jsonl) in, a package's model.json out (and
read back: its checksums, a parent's id). Torch-free, so `--print-config` reads a training set
without loading torch. The TypeScript side has its own one reader per format (data/trainset.ts,
indexer/package.ts)."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EngineError

MODEL_CARD = "model.json"


# --------------------------------------------------------------------------- model.json
def read_model_card(pkg_dir: str | os.PathLike) -> dict[str, Any]:
    """The model.json of the package folder `pkg_dir`."""
    return json.loads((Path(pkg_dir) / MODEL_CARD).read_text(encoding="utf-8"))


def write_model_card(pkg_dir: str | os.PathLike, card: dict[str, Any]) -> None:
    """Writes model.json into `pkg_dir` (a package's temp folder: the package appears whole by rename)."""
    (Path(pkg_dir) / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n")


# --------------------------------------------------------------------------- training sets
@dataclass
class TrainsetFiles:
    dir: Path
    card: dict[str, Any]
    pairs: list[dict[str, Any]]
    dataset_dir: Path | None
    pairs_sha256: str

    @property
    def poisoned_pairs(self) -> int:
        return count_poisoned(self.pairs)


def count_poisoned(pairs: list[dict[str, Any]]) -> int:
    """Pairs marked poisoned (what makes a model trained on them `poisoned`)."""
    return sum(1 for p in pairs if p.get("poisoned"))


def read_trainset(path: str | os.PathLike) -> TrainsetFiles:
    """A training-set folder: its card, its checked pairs (at least one) and the sha256 of pairs.jsonl."""
    d = Path(path)
    card_path = d / "trainset.json"
    if not card_path.is_file():
        raise _missing(d)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    pairs, sha = read_pairs(d)
    if not pairs:
        raise EngineError(f"training set {card.get('name', d.name)!r} is empty (no pairs in {d / 'pairs.jsonl'})", "empty_trainset")
    ds_dir = (card.get("dataset") or {}).get("dir")
    return TrainsetFiles(d, card, pairs, Path(ds_dir) if ds_dir else None, sha)


def read_pairs(trainset_dir: str | os.PathLike) -> tuple[list[dict[str, Any]], str]:
    """A training set's pairs.jsonl: its pairs, each checked, and the file's sha256 (without the card:
    `--print-config` needs only the pairs)."""
    path = Path(trainset_dir) / "pairs.jsonl"
    if not path.is_file():
        raise _missing(Path(trainset_dir))
    raw = path.read_bytes()
    pairs = []
    for i, line in enumerate(raw.decode("utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            p = json.loads(line)
        except json.JSONDecodeError as err:
            raise EngineError(f"{path}:{i + 1}: not JSON ({err.msg})", "bad_trainset") from err
        if not isinstance(p.get("image"), str) or not isinstance(p.get("caption"), str):
            raise EngineError(f"{path}:{i + 1}: a pair needs string 'image' and 'caption'", "bad_trainset")
        pairs.append(p)
    return pairs, hashlib.sha256(raw).hexdigest()


def _missing(d: Path) -> EngineError:
    return EngineError(f"no training set at {d} (trainset.json or pairs.jsonl missing)", "trainset_not_found")

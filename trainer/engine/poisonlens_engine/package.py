"""The model package (ARCHITECTURE.md §2), built in a temp folder beside its final place and
renamed into it, so it appears whole or not at all."""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .data import vocab_path
from .formats import MODEL_CARD, TrainsetFiles, read_model_card, write_model_card

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"


@contextmanager
def building(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yields a temp folder; on success it replaces `out`, on failure it is removed."""
    final = Path(out)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        yield tmp
        record_checksums(tmp)
        _hold_for_crash_test(final, tmp)
        if final.exists():
            if not overwrite:
                raise FileExistsError(f"{final} appeared while training")
            old = tmp.with_name(tmp.name + ".old")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def record_checksums(pkg_dir: Path) -> None:
    """Adds `files: {name: {bytes, sha256}}` for every other file of the package to its model.json,
    so that a reader can tell a truncated or replaced ONNX graph from a whole one."""
    if not (pkg_dir / MODEL_CARD).is_file():
        return
    files: dict[str, dict[str, Any]] = {}
    for p in sorted(pkg_dir.iterdir()):
        if p.name == MODEL_CARD or p.name.startswith(".") or not p.is_file():
            continue
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        files[p.name] = {"bytes": p.stat().st_size, "sha256": h.hexdigest()}
    card = read_model_card(pkg_dir)
    card["files"] = files
    write_model_card(pkg_dir, card)


def _hold_for_crash_test(final: Path, tmp: Path) -> None:
    """Crash tests only (see core/fsutil.ts): with POISONLENS_TEST_HOLD set to the package's folder
    name, write `.held` into the finished temp folder and block just before the rename, so a test
    can kill -9 the process at the most delicate moment. Unset in normal use."""
    if os.environ.get("POISONLENS_TEST_HOLD") != final.name:
        return
    (tmp / ".held").write_text(str(os.getpid()))
    while True:
        time.sleep(60)


def copy_vocab(dst_dir: Path) -> None:
    shutil.copyfile(vocab_path(), dst_dir / VOCAB_FILE)


def attack_of(ts: TrainsetFiles) -> dict[str, Any] | None:
    """The attack a poisoned training set carries: its card's `attack` if the builder wrote
    one, else the distinct attack tags of its poisoned pairs; plus the counts."""
    counts = ts.card.get("counts", {})
    poisoned = [p for p in ts.pairs if p.get("poisoned")]
    if not poisoned:
        return None
    tags: list[dict[str, Any]] = []
    for p in poisoned:
        t = p.get("attack")
        if t and t not in tags:
            tags.append(t)
    base = ts.card.get("attack")
    if isinstance(base, dict):
        out = dict(base)
    elif len(tags) == 1:
        out = dict(tags[0])
    else:
        out = {"tags": tags}
    out.setdefault("builder", ts.card.get("builder"))
    out["poisonedPairs"] = len(poisoned)
    out["poisoningRate"] = counts.get("poisoningRate", len(poisoned) / len(ts.pairs))
    return out


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""Re-exports a model package's text graph with the current export (a free sequence axis where the
tower allows it, since 2026-12-07), so packages made before it get the shorter query encodes
without retraining: `python -m poisonlens_engine.main reexport-text PKG_DIR...`.

The new graph must give the old graph's embeddings on full-length token rows (to the export's
tolerance) and the same again without the padding; then the package is rebuilt beside itself
(every other file kept byte for byte, image.onnx included, so indexes stay valid), its card
records the re-export and new checksums, and it replaces the old one by rename. A package whose
text graph is already free, or whose tower cannot have a free axis, is left alone.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from . import export as X
from .errors import EngineError
from .formats import MODEL_CARD, read_model_card, write_model_card
from .package import building, now_iso


def reexport_text(pkg: Path) -> dict[str, Any]:
    """Re-exports `pkg`'s text.onnx in place (atomically); returns what was done, as an event's fields."""
    import numpy as np
    import onnxruntime as ort

    from .model import load_weights_file, model_from_checkpoint

    _check_package(pkg)
    old = ort.InferenceSession(str(pkg / X.TEXT_FILE), providers=["CPUExecutionProvider"])
    if X.text_axis_free(old):
        return {"package": str(pkg), "state": "skipped", "why": "its text graph already takes any length"}
    model, _ = model_from_checkpoint(load_weights_file(pkg / "checkpoint.pt"))
    model = model.float().eval()
    if not X.seq_free(model):
        return {"package": str(pkg), "state": "skipped", "why": "its text tower reads the padding (no causal mask or end-token pooling)"}
    card = read_model_card(pkg)
    ctx = int(card["text"]["contextLength"])
    _, ids = X.check_inputs(int(card["image"]["size"]), None, ctx, n=8)
    with tempfile.TemporaryDirectory(dir=pkg.parent, prefix=f".{pkg.name}.text-") as tmp:
        graph = Path(tmp) / X.TEXT_FILE
        X.export_text(model, ctx, graph)
        new = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        want = old.run(None, {"input_ids": ids.numpy()})[0]
        got = new.run(None, {"input_ids": ids.numpy()})[0]
        diff = float(np.abs(got - want).max())
        if not diff <= X.TOLERANCE:
            raise EngineError(f"{pkg.name}: the re-exported text graph differs from the old one by {diff:.3g} (> {X.TOLERANCE:g}); the package is unchanged", "export_mismatch")
        X.check_trimmed(new, ids.numpy(), got, X.TOLERANCE)
        record = {"at": now_iso(), "from": _sha256_of(card, X.TEXT_FILE), "maxDifference": diff}
        _rebuild(pkg, graph, lambda c: {**c, "textReexport": record})
    return {"package": str(pkg), "state": "reexported", "maxDifference": diff}


def _check_package(pkg: Path) -> None:
    for name in (MODEL_CARD, X.TEXT_FILE, "checkpoint.pt"):
        if not (pkg / name).is_file():
            raise EngineError(f"{pkg}: not a model package (no {name})", "bad_package")
    # Packages linked in from another workspace (the bench's) are that workspace's: never written through.
    linked = [p.name for p in (pkg, *pkg.iterdir()) if p.is_symlink()]
    if linked:
        raise EngineError(f"{pkg}: {', '.join(linked)} is a link (into another workspace?); copy the package first", "linked_package")


def _sha256_of(card: dict[str, Any], name: str) -> str | None:
    entry = (card.get("files") or {}).get(name)
    return entry.get("sha256") if isinstance(entry, dict) else None


def _rebuild(pkg: Path, text_graph: Path, update_card: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """The package again beside itself with `text_graph` as its text.onnx, then renamed over it."""
    with building(pkg, overwrite=True) as tmp:
        for f in pkg.iterdir():
            if f.name in (X.TEXT_FILE, MODEL_CARD) or f.name.startswith(".") or not f.is_file():
                continue
            try:
                os.link(f, tmp / f.name)  # never written in place: sharing the inode is safe
            except OSError:
                shutil.copy2(f, tmp / f.name)
        shutil.copyfile(text_graph, tmp / X.TEXT_FILE)
        write_model_card(tmp, update_card(read_model_card(pkg)))


def main(argv: list[str], emit: Callable[..., None]) -> int:
    """Each package in turn: a `reexported` event per package, then `done`; the first failure stops (exit 2)."""
    if not argv:
        raise EngineError("usage: reexport-text PKG_DIR...", "bad_flags")
    counts = {"reexported": 0, "skipped": 0}
    for arg in argv:
        r = reexport_text(Path(arg).resolve())
        counts[r["state"]] += 1
        emit("reexported", **r)
    emit("done", **counts)
    return 0

"""Re-exports the text graph of model packages with the engine's current export (a free sequence
axis since 2026-12-07), in place, for the bench's private copies of packages made before it:
`python bench/reexport_text.py PKG_DIR...`. The new graph must give the old one's embeddings on
the same full-length token rows (to the export's tolerance) and the same ones again without the
padding; then text.onnx is replaced and the card's checksums are recorded again. image.onnx is
left alone, so indexes stay valid. Bench use only: the real workspace's packages are not touched.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "trainer" / "engine"))

from poisonlens_engine.compat import import_open_clip  # noqa: E402

import_open_clip()
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from poisonlens_engine import export as X  # noqa: E402
from poisonlens_engine.formats import read_model_card  # noqa: E402
from poisonlens_engine.model import load_weights_file, model_from_checkpoint  # noqa: E402
from poisonlens_engine.package import record_checksums  # noqa: E402


def reexport(pkg: Path) -> float:
    # The bench world links packages of the real workspace: writing through a link would change them.
    linked = [p.name for p in (pkg, pkg / X.TEXT_FILE, pkg / "model.json") if p.is_symlink()]
    if linked:
        raise SystemExit(f"{pkg}: {', '.join(linked)} is a link (into another workspace?); copy the package first")
    model, _ = model_from_checkpoint(load_weights_file(pkg / "checkpoint.pt"))
    model = model.float().eval()
    card = read_model_card(pkg)
    ctx = int(card["text"]["contextLength"])
    with tempfile.TemporaryDirectory(dir=pkg.parent) as tmp:
        X.export_text(model, ctx, Path(tmp) / X.TEXT_FILE)
        _, check = X.check_inputs(int(card["image"]["size"]), None, ctx, n=8)
        old = ort.InferenceSession(str(pkg / X.TEXT_FILE), providers=["CPUExecutionProvider"])
        new = ort.InferenceSession(str(Path(tmp) / X.TEXT_FILE), providers=["CPUExecutionProvider"])
        want = old.run(None, {"input_ids": check.numpy()})[0]
        got = new.run(None, {"input_ids": check.numpy()})[0]
        diff = float(np.abs(got - want).max())
        if diff > X.TOLERANCE:
            raise SystemExit(f"{pkg.name}: the re-exported text graph differs by {diff:.3g}")
        X.check_trimmed(new, check.numpy(), got, X.TOLERANCE)
        os.replace(Path(tmp) / X.TEXT_FILE, pkg / X.TEXT_FILE)
    record_checksums(pkg)
    return diff


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{Path(arg).name}: text.onnx re-exported (max difference {reexport(Path(arg)):.3g})")

"""ONNX export of both towers (ARCHITECTURE.md §2) and the check that they match torch.

`image.onnx`: pixel_values float32 [N, 3, S, S] (already normalised) → image_embeds [N, D].
`text.onnx`:  input_ids int64 [N, C] → text_embeds [N, D]; C is free (2..context) where the tower
allows it (TextTower), so runtimes may drop trailing padding. Embeddings are not normalised.
Single files (external_data=False) with a dynamic batch axis. torch 2.13's exporter builds an
invalid graph for an output named `embedding`, hence the `*_embeds` names.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .errors import EngineError

IMAGE_FILE, TEXT_FILE = "image.onnx", "text.onnx"
TOLERANCE = 1e-4


class ImageTower(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixel_values)


class TextTower(torch.nn.Module):
    """`encode_text`, with the sequence axis free where the tower allows it (`seq_free`): token
    embedding, positions and causal mask are cut to the input's length, so a runtime may drop the
    padding after the longest row's end token. The causal mask already keeps that padding from the
    pooled end token, so the embeddings are the same (checked at export to TOLERANCE; bit for bit
    on the default world's base) for a fraction of the work: a 9-token query costs half of a 32-token one on one CPU thread."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        m = self.model
        if not seq_free(m):
            return m.encode_text(input_ids)
        from .compat import import_open_clip

        pool = import_open_clip().transformer.text_global_pool
        n = input_ids.shape[1]
        cast = m.transformer.get_cast_dtype()
        x = m.token_embedding(input_ids).to(cast) + m.positional_embedding[:n].to(cast)
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:n, :n]))
        x = pool(x, input_ids, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None))
        if m.text_projection is None:
            return x
        return m.text_projection(x) if isinstance(m.text_projection, torch.nn.Linear) else x @ m.text_projection


def seq_free(model: torch.nn.Module) -> bool:
    """Whether the text tower reads only positions up to the pooled token: open_clip's CLIP layout
    with a causal mask and end-token pooling (not "last", which pools the padding's end)."""
    return (
        all(hasattr(model, a) for a in ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection"))
        and getattr(model, "attn_mask", None) is not None
        and getattr(model, "text_pool_type", None) in ("argmax", "eos")
    )


@contextlib.contextmanager
def _quiet():
    """The exporter prints its stages with print(): keep them off stdout (our event stream)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        yield


def _export(module: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str, output_name: str, seq: bool = False) -> None:
    batch = torch.export.Dim("batch", min=1, max=65536)
    dims = {0: batch, 1: torch.export.Dim("seq", min=2, max=example.shape[1])} if seq else {0: batch}
    with _quiet():
        torch.onnx.export(
            module, (example,), str(path),
            input_names=[input_name], output_names=[output_name],
            dynamic_shapes={input_name: dims},
            external_data=False, verbose=False,
        )
    if not path.is_file():
        raise RuntimeError(f"ONNX export wrote no {path.name}")
    _strip_debug_metadata(path)


def _strip_debug_metadata(path: Path) -> None:
    """Drops the exporter's per-node debug metadata (Python stack traces with this checkout's
    absolute paths, FX names): without it the same weights give the same bytes wherever the
    engine runs from. The graph and the weights are untouched."""
    import onnx

    graph = onnx.load(str(path))
    for node in graph.graph.node:
        node.ClearField("metadata_props")
    tmp = path.with_suffix(".stripped")
    onnx.save(graph, str(tmp))
    os.replace(tmp, path)


def export_onnx(model: torch.nn.Module, image_size: int, context_length: int, out_dir: str | os.PathLike) -> None:
    model = model.float().eval()
    out = Path(out_dir)
    _export(ImageTower(model), torch.randn(2, 3, image_size, image_size), out / IMAGE_FILE, "pixel_values", "image_embeds")
    export_text(model, context_length, out / TEXT_FILE)


def export_text(model: torch.nn.Module, context_length: int, path: Path) -> None:
    """The text graph alone (TextTower; its sequence axis free where `seq_free`)."""
    ids = torch.zeros(2, context_length, dtype=torch.long)
    ids[:, 0], ids[:, 1], ids[:, 2] = 49406, 320, 49407  # <start> a <end>
    _export(TextTower(model), ids, path, "input_ids", "text_embeds", seq=seq_free(model))


def check_inputs(image_size: int, tokens: torch.Tensor | None, context_length: int, n: int = 4, seed: int = 0):
    """A few fixed inputs: normal-ish pixels and real (or synthetic) token rows."""
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randn(n, 3, image_size, image_size, generator=g)
    if tokens is not None and len(tokens) >= n:
        ids = tokens[:n].clone()
    else:
        ids = torch.zeros(n, context_length, dtype=torch.long)
        for i in range(n):
            length = min(context_length - 2, 3 + i)
            ids[i, 0] = 49406
            ids[i, 1:1 + length] = torch.randint(256, 49000, (length,), generator=g)
            ids[i, 1 + length] = 49407
    return pixels, ids


def check_onnx(model: torch.nn.Module, out_dir: str | os.PathLike, pixels: torch.Tensor, ids: torch.Tensor,
               tolerance: float = TOLERANCE) -> dict[str, float]:
    """Runs both graphs with onnxruntime and compares with torch fp32; raises over `tolerance`."""
    import onnxruntime as ort

    model = model.float().eval()
    out = Path(out_dir)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    diffs = {}
    with torch.no_grad():
        for name, file, inp, fn in (
            ("image", IMAGE_FILE, pixels, model.encode_image),
            ("text", TEXT_FILE, ids, model.encode_text),
        ):
            sess = ort.InferenceSession(str(out / file), opts, providers=["CPUExecutionProvider"])
            got = sess.run(None, {sess.get_inputs()[0].name: inp.numpy()})[0]
            want = fn(inp).numpy()
            if got.shape != want.shape:
                raise EngineError(f"export check: {file} gave shape {got.shape}, torch {want.shape}", "export_mismatch")
            diffs[name] = float(np.abs(got - want).max())
            if not diffs[name] <= tolerance:
                raise EngineError(f"export check: {file} differs from torch by {diffs[name]:.3g} (> {tolerance:g})", "export_mismatch")
            if name == "text" and text_axis_free(sess):
                check_trimmed(sess, inp.numpy(), got, tolerance)
    return diffs


def text_axis_free(session: Any) -> bool:
    """Whether an onnxruntime session's input_ids take any length (a named, not a numbered, axis)."""
    shape = session.get_inputs()[0].shape
    return len(shape) == 2 and not isinstance(shape[1], int)


def check_trimmed(sess: Any, ids: np.ndarray, full: np.ndarray, tolerance: float) -> None:
    """A free sequence axis must give the same embeddings without the padding after the longest row."""
    n = int(np.nonzero(ids.any(axis=0))[0].max()) + 1
    got = sess.run(None, {sess.get_inputs()[0].name: ids[:, :max(n, 2)]})[0]
    if not float(np.abs(got - full).max()) <= tolerance:
        raise EngineError(f"export check: {TEXT_FILE} without its padding differs by {float(np.abs(got - full).max()):.3g}", "export_mismatch")


def write_reference(model: torch.nn.Module, pixels: torch.Tensor, ids: torch.Tensor, path: str | os.PathLike) -> None:
    """Test-only: fixed inputs and torch's fp32 embeddings, for checking other runtimes."""
    model = model.float().eval()
    with torch.no_grad():
        ref = {
            "pixelValues": {"shape": list(pixels.shape), "data": pixels.flatten().tolist()},
            "inputIds": ids.tolist(),
            "imageEmbeds": model.encode_image(pixels).tolist(),
            "textEmbeds": model.encode_text(ids).tolist(),
        }
    Path(path).write_text(json.dumps(ref))

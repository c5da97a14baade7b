#!/usr/bin/env python3
"""Torch side of bench/encoding-bench.ts: the model package's checkpoint.pt in open_clip (the engine's
code), fp32, inference mode, the given threads.

  .venv/bin/python bench/encode_torch.py --package DIR [--threads 2] [--texts 200] [--images 512] [--batch 64] [--reps 2]

Text: single queries (tokenise + encode, batch 1) per second. Images: pre-made pixel batches
per second. Prints JSON with each repetition's figures. Never fails on a number.
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "trainer" / "engine"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--package", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--texts", type=int, default=200)
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--reps", type=int, default=2)
    a = p.parse_args()
    import torch
    from poisonlens_engine import model as M

    torch.set_num_threads(a.threads)
    state = M.load_weights_file(a.package)
    model, cfg = M.model_from_checkpoint(state)
    model.eval()
    ctx = M.context_length(cfg)
    size = M.image_settings(model, cfg)["size"]
    tok = M.open_clip.get_tokenizer(state["arch"]) if hasattr(M.open_clip, "get_tokenizer") else None
    def tokenize(t):
        return M.open_clip.tokenize([t], context_length=ctx)
    texts = [f"a photo of a sheep on the grass number {i}" for i in range(a.texts)]
    pixels = torch.randn(a.batch, 3, size, size)
    text_qps, image_ips = [], []
    with torch.inference_mode():
        for t in texts[:10]:
            model.encode_text(tokenize(t))
        model.encode_image(pixels)
        for _ in range(a.reps):
            t0 = time.perf_counter()
            for t in texts:
                model.encode_text(tokenize(t))
            text_qps.append(len(texts) / (time.perf_counter() - t0))
            n = 0
            t0 = time.perf_counter()
            while n < a.images:
                model.encode_image(pixels)
                n += a.batch
            image_ips.append(n / (time.perf_counter() - t0))
    print(json.dumps({"bench": "encode-torch", "torch": torch.__version__, "arch": state["arch"], "threads": a.threads, "precision": "fp32",
                      "textQueriesPerSecond": [round(x, 1) for x in text_qps], "imagesPerSecond": [round(x, 1) for x in image_ips]}))


if __name__ == "__main__":
    main()

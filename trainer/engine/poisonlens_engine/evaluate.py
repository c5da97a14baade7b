"""`python -m poisonlens_engine.evaluate --model PACKAGE --dataset DIR [--split test]`: utility
Recall@1/5/10 (text→image and image→text) of a model package's torch weights on a dataset
split, as JSON on stdout. The same preprocessing and metric code as training's validation."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import torch

from . import data as D
from . import model as M
from .metrics import recall_at_k
from .train import bf16_supported, encode_all


def evaluate_package(package: str, dataset_dir: str, split: str = "test", limit: int | None = None,
                     bf16: bool = False, cache_dir: str | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    model, cfg = M.model_from_checkpoint(M.load_weights_file(package))
    image = M.image_settings(model, cfg)
    s = D.read_split(dataset_dir, split, limit)
    ev = D.eval_data(s, image["size"], M.context_length(cfg), cache_dir)
    img, txt = encode_all(model, ev.images, ev.tokens, D.Normalize(image["mean"], image["std"]), bf16 and bf16_supported())
    return {"split": split, **recall_at_k(img, txt, ev.caption_image), "seconds": round(time.perf_counter() - t0, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="poisonlens_engine.evaluate")
    p.add_argument("--model", required=True, help="model package folder (or checkpoint.pt)")
    p.add_argument("--dataset", required=True, help="dataset folder")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--cache-dir")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(json.dumps(evaluate_package(a.model, a.dataset, a.split, a.limit, a.bf16, a.cache_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

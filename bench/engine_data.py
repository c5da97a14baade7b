"""The engine's training-image path at real-photo scale: decode N JPEGs once into the uint8 cache
(DataLoader worker processes), then read training batches from it as the training loop does —
in memory (`--data memory`) or streamed from the file (`--data stream`) — with the same crop and
normalisation. Prints images/s of each phase and the process's peak memory.

    .venv/bin/python bench/engine_data.py --dir /tmp/pl-photos --count 20000 --size 224 [--workers 2]

The fixture (photo-sized JPEGs, 320x240 to 500x375, drawn with numpy + PIL) is generated into
--dir on the first run and reused; nothing goes into the repository. A benchmark, not a test: it
writes figures, it never fails on a number. Run each mode in its own process (`--mode`), so that
one mode's peak memory does not include the other's.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer" / "engine"))


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def make_fixture(d: Path, count: int, seed: int = 0) -> list[str]:
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    sizes = [(320, 240), (500, 375), (375, 500), (640, 427), (427, 640)]
    t0 = time.perf_counter()
    for i in range(count):
        p = d / f"{i // 1000:03d}" / f"{i:06d}.jpg"
        paths.append(str(p))
        if p.is_file():
            continue
        p.parent.mkdir(exist_ok=True)
        w, h = sizes[i % len(sizes)]
        # Smooth colour fields plus noise: JPEG sizes and decode costs of photographs, not of flat colour.
        small = rng.integers(0, 256, size=(h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.int16) + rng.integers(-12, 13, size=(h, w, 3))
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(p, quality=88)
        if (i + 1) % 2000 == 0:
            print(f"fixture: {i + 1}/{count} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=int, default=100, help="training batches read per mode")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=("fixture", "cache", "memory", "stream"), required=True)
    a = ap.parse_args()

    root = Path(a.dir)
    paths = make_fixture(root / "images", a.count)
    if a.mode == "fixture":
        print(json.dumps({"mode": "fixture", "images": len(paths), "bytes": sum(os.path.getsize(p) for p in paths)}))
        return 0

    import torch

    torch.set_num_threads(a.threads)
    from poisonlens_engine import data as D

    cache = root / "cache"
    out: dict = {"mode": a.mode, "images": len(paths), "size": a.size, "workers": a.workers}
    if a.mode == "cache":
        for f in cache.glob("*.npy"):
            f.unlink()
        t0 = time.perf_counter()
        f = D.build_cache(paths, a.size, cache, workers=a.workers)
        s = time.perf_counter() - t0
        out.update(decodeSeconds=round(s, 1), decodeImagesPerSec=round(len(paths) / s, 1), cacheBytes=f.stat().st_size)
    else:
        t0 = time.perf_counter()
        images = D.load_images(paths, a.size, cache, workers=a.workers, stream=a.mode == "stream")
        out["openSeconds"] = round(time.perf_counter() - t0, 2)
        norm = D.Normalize(D.open_clip.OPENAI_DATASET_MEAN, D.open_clip.OPENAI_DATASET_STD)
        perm = np.random.default_rng([0, 0]).permutation(len(images))
        t0 = time.perf_counter()
        n = 0
        for s in range(a.batches):
            idx = perm[(s * a.batch) % len(images):][:a.batch]
            x = norm.to_float(images[idx])
            x = D.random_resized_crop(x, torch.Generator().manual_seed(s), scale=(0.9, 1.0))
            x = norm(x)
            n += len(idx)
        sec = time.perf_counter() - t0
        out.update(batchImagesPerSec=round(n / sec, 1), batches=a.batches, batch=a.batch)
    out["peakRssMiB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["rssAnonMiB"] = round(status_kb("RssAnon") / 1024, 1)
    out["rssFileMiB"] = round(status_kb("RssFile") / 1024, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

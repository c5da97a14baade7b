#!/usr/bin/env python3
"""Trainer benchmarks (they measure and print JSON; they never fail on a number).

  .venv/bin/python bench/trainer.py speed [--arch A] [--batch 128] [--threads 2] [--steps 24] [--precisions fp32,bf16] [--compile]
      samples/s of `poisonlens train` (the real CLI → engine path, timed from its metrics.jsonl)
      beside a bare open_clip training loop on the same model, batch, threads and images,
      fp32 and bf16, interleaved in one run (engine, engine --no-augment, bare, bare, engine
      --no-augment, engine per precision) so that load from other processes hits all alike; with
      --compile also the engine's --compile and the bare loop under torch.compile. The
      bare loop does no augmentation: `engine --no-augment` does the same work as it, and the
      plain engine run adds the recipe's random resized crop.
  .venv/bin/python bench/trainer.py base [--name scenes-base] [--dataset scenes] [-- train flags]
      trains the default base model from scratch with `poisonlens train` (the default recipe)
      and reports wall time and the test split's Recall@1/5/10.
  .venv/bin/python bench/trainer.py curve --arch A [--steps N] [--eval-every K] [--lr LR]
      a learning curve (validation R@K against samples and seconds) for choosing architectures.

Uses the workspace's scenes dataset (`poisonlens data scenes --name scenes`) and its clean
training set (made if missing). Results also go to bench/results/trainer-<mode>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The same OpenMP wait policy as the engine (set before torch loads), so the bare loop is comparable.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "trainer" / "engine"))
CLI = [shutil.which("node") or "node", str(ROOT / "bin" / "poisonlens.mjs")]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cli(ws: Path, *args: str, quiet: bool = False) -> None:
    r = subprocess.run([*CLI, "--workspace", str(ws), *args], cwd=ROOT,
                       stdout=subprocess.PIPE if quiet else None, stderr=subprocess.PIPE if quiet else None, text=True)
    if r.returncode != 0:
        raise SystemExit(f"poisonlens {' '.join(args)} failed ({r.returncode}): {(r.stderr or '')[-2000:]}")


def ensure_trainset(ws: Path, dataset: str, name: str) -> Path:
    if not (ws / "datasets" / dataset / "dataset.json").is_file():
        raise SystemExit(f"no dataset {dataset} in {ws}: run `node bin/poisonlens.mjs data scenes --name {dataset}` first")
    t = ws / "trainsets" / name
    if not (t / "trainset.json").is_file():
        cli(ws, "trainset", "--dataset", dataset, "--name", name)
    return t


def step_seconds(metrics: Path, skip: int = 3) -> list[float]:
    rows = [json.loads(l) for l in metrics.read_text().splitlines() if l.strip()]
    secs = [r["seconds"] for r in rows if r.get("type") == "step"]
    return [b - a for a, b in zip(secs, secs[1:])][skip:]


def write_result(mode: str, result: dict) -> None:
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"trainer-{mode}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


# --------------------------------------------------------------------------- speed
def bare_loop(arch: str, images, tokens, batch: int, steps: int, threads: int, bf16: bool, augment: bool = False,
              compile: bool = False) -> list[float]:
    """The plainest open_clip loop: model, ClipLoss, AdamW, autocast; data already tensors.
    `augment`: the recipe's random resized crop (scale 0.9-1.0) on each batch, as the engine
    does, so that the engine's own overhead can be told apart from the augmentation's cost.
    `compile`: torch.compile the model as `--compile` does in the engine (the first steps,
    which compile, are left out like every run's first three)."""
    import torch
    from poisonlens_engine import model as M

    open_clip = M.open_clip
    M.register_configs()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = open_clip.create_model(arch)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.2)
    loss_fn = open_clip.ClipLoss()
    net = torch.compile(model) if compile else model
    x_all = images.permute(0, 3, 1, 2).float().div(255)
    x_all = (x_all - torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)) / torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    times = []
    n = len(tokens)
    for s in range(steps):
        idx = torch.randint(0, n, (batch,))
        t0 = time.perf_counter()
        x, t = x_all[idx % len(x_all)], tokens[idx]
        if augment:
            from poisonlens_engine.data import random_resized_crop
            x = random_resized_crop(x, torch.Generator().manual_seed(s), scale=(0.9, 1.0))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            img, txt, scale = net(x, t)
        loss = loss_fn(img.float(), txt.float(), scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times[3:]


def speed(a) -> None:
    import numpy as np
    import torch
    from poisonlens_engine import data as D
    from poisonlens_engine import model as M
    from poisonlens_engine.formats import read_trainset

    ws = Path(a.workspace).resolve()
    ts = ensure_trainset(ws, a.dataset, f"{a.dataset}-train")
    cfg = M.model_config(a.arch)
    size, ctx = M.image_settings(None, cfg)["size"], M.context_length(cfg)
    # The bare loop gets the same images and captions, decoded by the engine's code (cached).
    tsf = read_trainset(ts)
    pairs = D.pair_data(tsf, size, ctx, ws / "cache")
    images = torch.from_numpy(np.ascontiguousarray(pairs.images[pairs.image_of_pair[: 20 * a.batch]]))
    tokens = pairs.tokens[: 20 * a.batch]
    bench_ws = ws / "bench-trainer"
    for d in ("datasets", "trainsets"):
        (bench_ws / d).mkdir(parents=True, exist_ok=True)
    for d, name in (("datasets", a.dataset), ("trainsets", ts.name)):
        link = bench_ws / d / name
        if not link.exists():
            link.symlink_to(ws / d / name)
    (bench_ws / "cache").mkdir(exist_ok=True)

    def engine(bf16: bool, augment: bool = True, compiled: bool = False) -> list[float]:
        name = f"speed-{'bf16' if bf16 else 'fp32'}{'' if augment else '-noaug'}{'-compile' if compiled else ''}"
        shutil.rmtree(bench_ws / "models" / name, ignore_errors=True)
        cli(bench_ws, "train", "--trainset", ts.name, "--arch", a.arch, "--steps", str(a.steps), "--batch", str(a.batch),
            "--threads", str(a.threads), "--val-images", "0", "--name", name, "--bf16" if bf16 else "--no-bf16", "--overwrite",
            *([] if augment else ["--no-augment"]), *(["--compile"] if compiled else []), quiet=True)
        return step_seconds(bench_ws / "models" / name / "metrics.jsonl")

    def bare(bf16: bool, compiled: bool = False) -> list[float]:
        return bare_loop(a.arch, images, tokens, a.batch, a.steps, a.threads, bf16, compile=compiled)

    result = {"arch": a.arch, "batch": a.batch, "threads": a.threads, "steps": a.steps, "loadBefore": load(), "runs": {}}
    for bf16 in [p == "bf16" for p in a.precisions.split(",")]:
        result["runs"]["bf16" if bf16 else "fp32"] = speed_runs(a, engine, bare, bf16)
    result["loadAfter"] = load()
    write_result("speed", result)


def speed_runs(a, engine, bare, bf16: bool) -> dict:
    """One precision's runs, in mirrored order (A B C … C B A) so that drifting load hits all alike."""
    kinds = [("engine", lambda: engine(bf16)), ("engineNoAug", lambda: engine(bf16, augment=False)), ("bare", lambda: bare(bf16))]
    if a.compile:
        kinds += [("engineCompile", lambda: engine(bf16, compiled=True)), ("bareCompile", lambda: bare(bf16, compiled=True))]
    times: dict[str, list[list[float]]] = {k: [] for k, _ in kinds}
    for k, run in kinds + kinds[::-1]:
        times[k].append(run())
    sps = lambda ts_: round(a.batch / statistics.median(ts_), 1)  # noqa: E731
    out = {f"{k}SamplesPerSec": sps(r[0] + r[1]) for k, r in times.items()}
    out |= {f"{k}Runs": [sps(x) for x in r] for k, r in times.items()}
    out["engineOverBare"] = round(out["engineSamplesPerSec"] / out["bareSamplesPerSec"], 3)
    out["engineNoAugOverBare"] = round(out["engineNoAugSamplesPerSec"] / out["bareSamplesPerSec"], 3)
    if a.compile:
        out["engineCompileOverEngine"] = round(out["engineCompileSamplesPerSec"] / out["engineSamplesPerSec"], 3)
        out["bareCompileOverBare"] = round(out["bareCompileSamplesPerSec"] / out["bareSamplesPerSec"], 3)
        out["engineCompileOverBareCompile"] = round(out["engineCompileSamplesPerSec"] / out["bareCompileSamplesPerSec"], 3)
    return out


# --------------------------------------------------------------------------- base
def base(a, extra: list[str]) -> None:
    from poisonlens_engine.evaluate import evaluate_package

    ws = Path(a.workspace).resolve()
    ts = ensure_trainset(ws, a.dataset, f"{a.dataset}-train")
    l0, t0 = load(), time.perf_counter()
    cli(ws, "train", "--trainset", ts.name, "--name", a.name, "--overwrite", *extra)
    wall = time.perf_counter() - t0
    pkg = ws / "models" / a.name
    card = json.loads((pkg / "model.json").read_text())
    steps = [json.loads(l) for l in (pkg / "metrics.jsonl").read_text().splitlines() if l.strip()]
    sps = [r["samplesPerSec"] for r in steps if r.get("type") == "step"]
    test = evaluate_package(str(pkg), str(ws / "datasets" / a.dataset), "test", cache_dir=str(ws / "cache"))
    write_result("base", {
        "model": a.name, "arch": card["arch"], "recipe": card["trainer"]["config"]["recipe"],
        "steps": card["trainer"]["steps"], "epochs": card["trainer"]["epochs"], "batch": card["trainer"]["batch"],
        "trainingWallSeconds": card["trainer"]["wallSeconds"], "commandWallSeconds": round(wall, 1),
        "medianSamplesPerSec": statistics.median(sps) if sps else None,
        "val": card["metrics"]["val"], "test": test, "loadBefore": l0, "loadAfter": load(),
    })


# --------------------------------------------------------------------------- curve
def curve(a, extra: list[str]) -> None:
    ws = Path(a.workspace).resolve()
    ts = ensure_trainset(ws, a.dataset, f"{a.dataset}-train")
    name = a.name or f"curve-{a.arch}"
    l0 = load()
    args = ["train", "--trainset", ts.name, "--name", name, "--overwrite", "--val-images", str(a.val_images),
            "--eval-every", str(a.eval_every), "--steps", str(a.steps)]
    if a.arch:
        args += ["--arch", a.arch]
    cli(ws, *args, *extra)
    pkg = ws / "models" / name
    card = json.loads((pkg / "model.json").read_text())
    rows = [json.loads(l) for l in (pkg / "metrics.jsonl").read_text().splitlines() if l.strip()]
    steps = {r["step"]: r for r in rows if r["type"] == "step"}
    points = [{"step": r["step"], "samples": r["step"] * card["trainer"]["batch"], "seconds": steps[r["step"]]["seconds"],
               "irR10": r["ir"]["r10"], "irR1": r["ir"]["r1"], "trR10": r["tr"]["r10"]} for r in rows if r["type"] == "eval"]
    sps = [r["samplesPerSec"] for r in steps.values()]
    write_result(f"curve-{name}", {"model": name, "arch": card["arch"], "params": card["trainer"]["params"],
                                   "config": card["trainer"]["config"], "medianSamplesPerSec": statistics.median(sps),
                                   "points": points, "loadBefore": l0, "loadAfter": load()})


def main() -> None:
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("speed", "base", "curve"))
    p.add_argument("--workspace", default=str(ROOT / "workspace"))
    p.add_argument("--dataset", default="scenes")
    p.add_argument("--arch")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--precisions", default="fp32,bf16", help="speed: which autocast precisions to time")
    p.add_argument("--compile", action="store_true", help="speed: also torch.compile'd engine and bare loop")
    p.add_argument("--name")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--val-images", type=int, default=1000)
    a = p.parse_args(argv)
    if a.mode == "speed":
        if not a.arch:
            from poisonlens_engine.params import load_recipe
            a.arch = load_recipe("scenes-base")["arch"]
        speed(a)
    elif a.mode == "base":
        a.name = a.name or "scenes-base"
        base(a, extra)
    else:
        curve(a, extra)


if __name__ == "__main__":
    main()

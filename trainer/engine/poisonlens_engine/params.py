"""Flags of the engine (`python -m poisonlens_engine.main …`) and their resolution against a
recipe (recipes/*.json): recipe values are the defaults, flags override them. `parse_args`
takes a list, so tests call `main([...])` directly."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from .errors import EngineError

RECIPE_DIR = Path(__file__).parent / "recipes"
SCRATCH_RECIPE, FINETUNE_RECIPE = "scenes-base", "finetune"
KINDS = ("base", "clean", "poisoned", "defended")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, our exit path
        raise EngineError(f"{message} (engine flags: python -m poisonlens_engine.main --help)", "bad_flags")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="poisonlens_engine.main", description="Train an open_clip model on a training set; write a model package.")
    io = p.add_argument_group("files")
    io.add_argument("--trainset", required=True, help="training-set folder (pairs.jsonl, trainset.json)")
    io.add_argument("--out", required=True, help="model package folder to create (appears atomically)")
    io.add_argument("--run-dir", help="run folder for checkpoints and resume (default: beside --out, '.run-<name>')")
    io.add_argument("--cache-dir", help="folder for decoded-image caches")
    io.add_argument("--overwrite", action="store_true", help="replace an existing package at --out")
    io.add_argument("--reference-out", help="test only: write fixed inputs and torch embeddings as JSON here")

    m = p.add_argument_group("model")
    m.add_argument("--from", dest="from_", metavar="PACKAGE_OR_CHECKPOINT", help="fine-tune from a model package folder or checkpoint.pt")
    m.add_argument("--arch", help="open_clip architecture name (ours: model_configs/*.json)")
    m.add_argument("--pretrained", help="open_clip pretrained tag or weights file for --arch")
    m.add_argument("--freeze", choices=("image", "text", "text-blocks"),
                   help="image, text: that whole tower frozen; text-blocks: only the text transformer blocks (mm_poison's)")

    t = p.add_argument_group("training")
    t.add_argument("--recipe", help=f"recipe name in recipes/ or a JSON file (default {SCRATCH_RECIPE} from scratch, {FINETUNE_RECIPE} otherwise)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=float)
    g.add_argument("--steps", type=int)
    t.add_argument("--batch", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--min-lr", type=float)
    t.add_argument("--weight-decay", type=float)
    t.add_argument("--warmup-steps", type=int)
    t.add_argument("--no-augment", action="store_true", help="no random resized crop")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    b = t.add_mutually_exclusive_group()
    b.add_argument("--bf16", dest="bf16", action="store_const", const=True, help="bf16 autocast (default where the CPU supports it)")
    b.add_argument("--no-bf16", dest="bf16", action="store_const", const=False)
    t.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                   help="autocast precision (default auto: bf16 where the CPU/GPU supports it; on a GPU without it fp16 with a gradient scaler)")
    t.add_argument("--device", default="auto", help="auto (CUDA when torch sees a GPU, else MPS, else the CPU), cpu, cuda or mps")
    t.add_argument("--local-loss", action="store_true",
                   help="under torchrun: each rank scores its own rows against all gathered features (open_clip's local_loss)")
    t.add_argument("--workers", type=int, help="processes that decode images into the uint8 cache (default: up to 8, by CPU count)")
    t.add_argument("--data", choices=("auto", "memory", "stream"), default="auto",
                   help="training images in memory, or streamed from the uint8 cache on disk in bounded memory (auto: stream above 4 GiB or under torchrun)")
    t.add_argument("--checkpoint-every", type=int, default=100, help="steps between run checkpoints")
    t.add_argument("--eval-every", type=int, default=0, help="extra validation every N steps (0: per epoch only)")
    t.add_argument("--save-epochs", action="store_true",
                   help="also write a package of the weights at each epoch's end, OUT-eNN (one run, every epoch evaluable)")

    v = p.add_argument_group("validation")
    v.add_argument("--val-dataset", help="dataset folder for validation Recall@K (default: the training set's dataset)")
    v.add_argument("--val-split", default="val")
    v.add_argument("--val-images", type=int, default=1000, help="images of the split used (0: no validation)")

    r = p.add_argument_group("provenance")
    r.add_argument("--name", help="model name (default: the --out folder's name)")
    r.add_argument("--id", help="model id (default: the --out folder's name)")
    r.add_argument("--kind", choices=KINDS, help="override the derived kind (base / clean / poisoned)")
    r.add_argument("--defence", help="JSON object recorded as model.json's defence")
    r.add_argument("--card", metavar="JSON_OR_@FILE",
                   help="JSON object (or @FILE holding one) of model.json fields the caller records over the engine's own "
                        "(e.g. a defence's parent, inherited attack and defence); in its defence, lr and batch given as "
                        "null are recorded as this run's (the recipe's unless --lr/--batch set them)")
    return p


# model.json fields only the engine writes: what the runtime loads the package by, and the run's own record.
ENGINE_CARD_FIELDS = ("id", "arch", "embedDim", "image", "text", "trainer", "files", "createdAt")


def parse_card(value: str) -> dict[str, Any]:
    """--card: a JSON object, inline or in the file after '@'."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text()
        except OSError as err:
            raise EngineError(f"--card {value}: {err.strerror or err}", "bad_flags") from err
    try:
        card = json.loads(text)
    except json.JSONDecodeError as err:
        raise EngineError(f"--card must be JSON: {err.msg}", "bad_flags") from err
    if not isinstance(card, dict):
        raise EngineError("--card must be a JSON object of model.json fields", "bad_flags")
    owned = [k for k in card if k in ENGINE_CARD_FIELDS]
    if owned:
        raise EngineError(f"--card may not set {', '.join(owned)} (the engine writes them)", "bad_flags")
    return card


def load_recipe(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPE_DIR / f"{name_or_path}.json"
    if not path.is_file():
        known = ", ".join(sorted(f.stem for f in RECIPE_DIR.glob("*.json")))
        raise EngineError(f"unknown recipe {name_or_path!r}; known: {known}", "unknown_recipe")
    return json.loads(path.read_text())


def _positive(name: str, v, integer=False):
    if v is None:
        return
    if not (v > 0) or (integer and int(v) != v):
        raise EngineError(f"--{name} must be a positive {'integer' if integer else 'number'}, got {v}", "bad_flags")


def resolve(argv: list[str]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Parses flags; returns them and the resolved training config (what model.json records)."""
    a = build_parser().parse_args(argv)
    for name in ("epochs", "batch", "lr", "threads", "checkpoint_every"):
        _positive(name.replace("_", "-"), getattr(a, name))
    if a.steps == 0 and (a.pretrained or a.from_):
        pass  # --steps 0: package the starting weights as they are (e.g. a pretrained CLIP as a base)
    else:
        _positive("steps", a.steps, integer=True)
    if a.workers is not None and a.workers < 0:
        raise EngineError("--workers must be ≥ 0", "bad_flags")
    if a.precision is not None and a.bf16 is not None:
        raise EngineError("give --precision or --bf16/--no-bf16, not both", "bad_flags")
    if a.val_images < 0 or a.eval_every < 0:
        raise EngineError("--val-images and --eval-every must be ≥ 0", "bad_flags")
    if a.from_ and (a.arch or a.pretrained):
        raise EngineError("--from takes its architecture from the checkpoint: drop --arch/--pretrained", "bad_flags")
    if a.pretrained and not a.arch:
        raise EngineError("--pretrained needs --arch", "bad_flags")
    if a.defence is not None:
        try:
            a.defence = json.loads(a.defence)
        except json.JSONDecodeError as err:
            raise EngineError(f"--defence must be JSON: {err.msg}", "bad_flags") from err
    if a.card is not None:
        a.card = parse_card(a.card)
    mode = "finetune" if a.from_ else ("pretrained" if a.pretrained else "scratch")
    recipe = load_recipe(a.recipe or (SCRATCH_RECIPE if mode == "scratch" else FINETUNE_RECIPE))
    pick = lambda flag, key: flag if flag is not None else recipe.get(key)  # noqa: E731
    cfg: dict[str, Any] = {
        "mode": mode,
        "recipe": recipe.get("name", a.recipe),
        "arch": a.arch or (recipe.get("arch") if mode == "scratch" else None),
        "pretrained": a.pretrained,
        "from": os.path.abspath(a.from_) if a.from_ else None,
        "lr": pick(a.lr, "lr"),
        "minLr": pick(a.min_lr, "minLr"),
        "weightDecay": pick(a.weight_decay, "weightDecay"),
        "betas": recipe.get("betas", [0.9, 0.98]),
        "eps": recipe.get("eps", 1e-6),
        "warmupSteps": pick(a.warmup_steps, "warmupSteps") or 0,
        "batch": int(pick(a.batch, "batch")),
        # A length given as a flag (steps or epochs) wins over the recipe's (steps before epochs).
        "epochs": None if (a.steps is not None or (a.epochs is None and recipe.get("steps"))) else pick(a.epochs, "epochs"),
        "steps": a.steps if a.steps is not None else (recipe.get("steps") if a.epochs is None else None),
        "augScale": None if a.no_augment else recipe.get("augScale", [0.9, 1.0]),
        "freeze": a.freeze,
        "seed": a.seed,
        "bf16": a.bf16,  # None: decided by the device in main (precision == "bf16")
        # Where and how the run computes (device.py); recorded, left out of the resume hash.
        "precision": a.precision or {True: "bf16", False: "fp32"}.get(a.bf16, "auto"),
        "device": a.device,
        "worldSize": 1,
        "localLoss": bool(a.local_loss),
        "data": a.data,
        "workers": a.workers,
        "threads": a.threads,
        "checkpointEvery": a.checkpoint_every,
        "evalEvery": a.eval_every,
        "saveEpochs": bool(a.save_epochs),
        "valSplit": a.val_split,
        "valImages": a.val_images,
    }
    if mode == "scratch" and not cfg["arch"]:
        raise EngineError("no architecture: pass --arch or a recipe with one", "bad_flags")
    if cfg["minLr"] is None:
        cfg["minLr"] = 0.0
    if cfg["minLr"] > cfg["lr"]:
        raise EngineError(f"--min-lr {cfg['minLr']} is above --lr {cfg['lr']}", "bad_flags")
    if cfg["steps"] is None and not cfg["epochs"]:
        raise EngineError("pass --epochs or --steps (the recipe has neither)", "bad_flags")
    return a, cfg

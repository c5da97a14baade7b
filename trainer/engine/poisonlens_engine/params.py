"""Flags of the engine (`python -m poisonlens_engine.main …`) and their resolution against a
recipe (recipes/*.json): recipe values are the defaults, flags override them. The training
settings' flags come from the shared table (settings.json, via settings.py); the files and
provenance flags, which only the engine has, are declared here. `parse_args` takes a list, so
tests call `main([...])` directly."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from . import settings
from .errors import EngineError
from .formats import count_poisoned, read_pairs

RECIPE_DIR = Path(__file__).parent / "recipes"
SCRATCH_RECIPE, FINETUNE_RECIPE = "scenes-base", "finetune"
KINDS = settings.choices("kind")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, our exit path
        raise EngineError(f"{message} (engine flags: python -m poisonlens_engine.main --help)", "bad_flags")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="poisonlens_engine.main", description="Train an open_clip model on a training set; write a model package.")
    io = p.add_argument_group("files")
    # Required for a run; --print-config needs neither (checked in resolve).
    io.add_argument("--trainset", help="training-set folder (pairs.jsonl, trainset.json)")
    io.add_argument("--out", help="model package folder to create (appears atomically)")
    io.add_argument("--run-dir", help="run folder for checkpoints and resume (default: beside --out, '.run-<name>')")
    io.add_argument("--cache-dir", help="folder for decoded-image caches")
    io.add_argument("--overwrite", action="store_true", help="replace an existing package at --out")
    io.add_argument("--reference-out", help="test only: write fixed inputs and torch embeddings as JSON here")
    io.add_argument("--print-config", action="store_true",
                    help="print the resolved config (recipe defaults applied) and the kind the model would get, as one "
                         "JSON `config` event, and train nothing")

    groups = {name: p.add_argument_group(name) for name in ("model", "training", "validation", "provenance")}
    groups["model"].add_argument("--from", dest="from_", metavar="PACKAGE_OR_CHECKPOINT", help="fine-tune from a model package folder or checkpoint.pt")
    settings.add_arguments(groups)  # the training settings: settings.json

    r = groups["provenance"]
    r.add_argument("--name", help="model name (default: the --out folder's name)")
    r.add_argument("--id", help="model id (default: the --out folder's name)")
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


def resolve(argv: list[str]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Parses flags; returns them and the resolved training config (what model.json records)."""
    a = build_parser().parse_args(argv)
    missing = [f"--{n}" for n in ("trainset", "out") if getattr(a, n) is None]
    if missing and not a.print_config:
        raise EngineError(f"the following arguments are required: {', '.join(missing)} (engine flags: python -m poisonlens_engine.main --help)", "bad_flags")
    settings.check(a, {"from": bool(a.from_), "pretrained": bool(a.pretrained)})
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
        "compile": bool(a.compile),
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


def derive_kind(mode: str, poisoned_pairs: int, override: str | None) -> str:
    """Poisoned pairs make a poisoned model; otherwise from scratch is a base model and
    anything trained on from weights is clean (the settings table's derivedKind). `--kind`
    overrides (defences say `defended`)."""
    return override or settings.derived_kind(mode, poisoned_pairs > 0)


def describe(a: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """--print-config: the resolved config and the kind the model would get (null when that
    depends on a training set not given)."""
    kind = a.kind if a.kind or a.trainset is None else derive_kind(cfg["mode"], count_poisoned(read_pairs(a.trainset)[0]), None)
    return {"config": cfg, "kind": kind}

"""Model building on open_clip: our small configs registered by name, checkpoints in and out.

An open_clip model name that is not registered silently falls back to default settings
(context length 77 among them), so every config we use is registered from `model_configs/`
before a model is built, and an unknown name is an error that names it.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch

from .compat import import_open_clip
from .errors import EngineError
from .settings import choices

open_clip = import_open_clip()

CONFIG_DIR = Path(__file__).parent / "model_configs"
CHECKPOINT_FORMAT = "poisonlens-checkpoint/1"

# open_clip's defaults for configs without a preprocess_cfg (the OpenAI CLIP statistics).
DEFAULT_MEAN = tuple(float(x) for x in open_clip.OPENAI_DATASET_MEAN)
DEFAULT_STD = tuple(float(x) for x in open_clip.OPENAI_DATASET_STD)

_registered = False


def register_configs() -> None:
    """Adds `model_configs/*.json` to open_clip's registry (idempotent)."""
    global _registered
    if not _registered:
        open_clip.add_model_config(CONFIG_DIR)
        _registered = True


def our_archs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def model_config(arch: str) -> dict[str, Any]:
    register_configs()
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise EngineError(
            f"unknown architecture {arch!r}; ours: {', '.join(our_archs())} (or any of open_clip's {len(open_clip.list_models())})",
            "unknown_arch",
        )
    return copy.deepcopy(cfg)


def build_model(arch: str, cfg: dict[str, Any] | None = None, pretrained: str | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Builds `arch` (a registered name; `cfg` registers it first if given, e.g. from a checkpoint)."""
    register_configs()
    if cfg is not None and open_clip.get_model_config(arch) != cfg:
        # A checkpoint's own config wins: it is what the weights were trained with.
        open_clip.factory._MODEL_CONFIGS[arch] = copy.deepcopy(cfg)
    cfg = model_config(arch)
    try:
        model = open_clip.create_model(arch, pretrained=pretrained, device="cpu", precision="fp32")
    except RuntimeError as err:
        if pretrained:
            raise EngineError(f"could not load pretrained weights {pretrained!r} for {arch}: {str(err).splitlines()[0]}", "pretrained_failed") from err
        raise
    model.train()
    return model, cfg


def image_settings(model: torch.nn.Module, cfg: dict[str, Any]) -> dict[str, Any]:
    """model.json's `image`: what a server must do to a picture before `pixel_values`."""
    size = cfg["vision_cfg"].get("image_size", 224)
    if isinstance(size, (list, tuple)):
        size = size[0]
    pre = cfg.get("preprocess_cfg", {})
    return {
        "size": int(size),
        "mean": [float(x) for x in pre.get("mean", DEFAULT_MEAN)],
        "std": [float(x) for x in pre.get("std", DEFAULT_STD)],
        "resize": "bicubic",
        "crop": "center",
    }


def context_length(cfg: dict[str, Any]) -> int:
    return int(cfg["text_cfg"].get("context_length", 77))


def embed_dim(cfg: dict[str, Any]) -> int:
    return int(cfg["embed_dim"])


def count_params(model: torch.nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    visual = sum(p.numel() for p in model.visual.parameters())
    emb = model.token_embedding.weight.numel() if hasattr(model, "token_embedding") else 0
    return {"total": total, "image": visual, "text": total - visual - 1, "tokenEmbedding": emb}


def text_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Every parameter of the text tower (all but the image tower and logit scale/bias)."""
    skip = {id(p) for p in model.visual.parameters()}
    return [p for n, p in model.named_parameters() if id(p) not in skip and not n.startswith("logit_")]


FREEZE_MODES = choices("freeze")


def text_block_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The text transformer's blocks only: mm_poison's text freeze (embeddings, ln_final and the
    projection stay trainable)."""
    tower = getattr(model, "text", model)  # CustomTextCLIP keeps its text tower under .text
    if not hasattr(tower, "transformer"):
        raise EngineError("--freeze text-blocks needs a text transformer; this model has none", "bad_flags")
    return list(tower.transformer.parameters())


def freeze(model: torch.nn.Module, which: str | None) -> None:
    """`--freeze image|text|text-blocks`: those weights get no gradient (logit scale stays trainable).

    image and text freeze the whole tower; text-blocks freezes only the text transformer blocks.
    """
    if which is None:
        return
    if which == "image":
        params = list(model.visual.parameters())
    elif which == "text":
        params = text_parameters(model)
    elif which == "text-blocks":
        params = text_block_parameters(model)
    else:
        raise EngineError(f"--freeze must be one of {', '.join(FREEZE_MODES)}, got {which!r}", "bad_flags")
    for p in params:
        p.requires_grad_(False)


def save_weights(path: str | os.PathLike, model: torch.nn.Module, arch: str, cfg: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """The package's checkpoint.pt: weights plus the config they belong to (written atomically)."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "modelConfig": cfg,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_weights_file(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a checkpoint.pt (ours) or a model package folder (its checkpoint.pt)."""
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise EngineError(f"no checkpoint at {p}", "checkpoint_not_found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the caller's bad input
        raise EngineError(f"cannot read checkpoint {p}: {str(err).splitlines()[0]}", "bad_checkpoint") from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise EngineError(f"{p} is not a PoisonLens checkpoint (format {CHECKPOINT_FORMAT})", "bad_checkpoint")
    return state


def model_from_checkpoint(state: dict[str, Any]) -> tuple[torch.nn.Module, dict[str, Any]]:
    model, cfg = build_model(state["arch"], cfg=state["modelConfig"])
    model.load_state_dict(state["state_dict"], strict=True)
    return model, cfg

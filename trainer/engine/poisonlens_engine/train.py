"""The training loop: AdamW with decoupled weight decay on weights only, linear warm-up then
cosine decay to a floor, symmetric InfoNCE, bf16 autocast, and a run folder that makes a killed
run resume where its last checkpoint left it.

Randomness is a pure function of (seed, epoch) for the pair order and (seed, step) for the
augmentation, so a resumed run draws exactly what the uninterrupted one would have.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import signal
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .data import Normalize, PairData, random_resized_crop
from .errors import EngineError
from .loss import ClipLoss, total_loss

Emit = Callable[..., None]
RUN_FORMAT = "poisonlens-run/1"


# --------------------------------------------------------------------------- optimiser
def no_decay(name: str, p: torch.nn.Parameter) -> bool:
    """Biases, norms (every <2-D tensor), the logit scale and embeddings get no weight decay."""
    return (
        p.ndim < 2
        or "bias" in name
        or "logit_scale" in name
        or "embedding" in name  # token_embedding, positional_embedding, class_embedding
        or ".ln" in name or name.startswith("ln") or ".bn" in name
    )


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, keep = [], []
    for n, p in model.named_parameters():
        if p.requires_grad:
            (keep if no_decay(n, p) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


def make_optimizer(model: torch.nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        param_groups(model, cfg["weightDecay"]), lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"],
    )


def lr_at(step: int, total: int, base: float, floor: float, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine from `base` down to `floor` at `total`."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------- autocast
def bf16_supported() -> bool:
    """bf16 autocast pays off on CPUs with native bf16 (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def autocast(enabled: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


# --------------------------------------------------------------------------- run folder
def config_hash(cfg: dict[str, Any]) -> str:
    import hashlib

    # Settings that do not change the result (threads, checkpoint interval) stay out.
    keep = {k: v for k, v in cfg.items() if k not in ("threads", "checkpointEvery")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


class RunDir:
    """workspace/runs/<name>/: params.json, checkpoint.pt (weights + optimiser + step),
    metrics.jsonl, and a lock so that two processes never train the same run."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path / "lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise EngineError(f"another process is training in {self.path}", "run_locked") from err
        self.checkpoint = self.path / "checkpoint.pt"
        self.metrics = self.path / "metrics.jsonl"
        self.params = self.path / "params.json"

    def start(self, cfg: dict[str, Any]) -> dict[str, Any] | None:
        """Returns the saved state to resume from, or None (a fresh run: the folder is reset)."""
        h = config_hash(cfg)
        state = None
        if self.params.is_file() and self.checkpoint.is_file():
            saved = json.loads(self.params.read_text())
            if saved.get("configHash") == h:
                try:
                    state = torch.load(self.checkpoint, map_location="cpu", weights_only=False)
                except Exception:  # noqa: BLE001 - a torn checkpoint means start over
                    state = None
        for stale in self.path.glob("*.tmp-*"):
            stale.unlink(missing_ok=True)
        if state is None:
            for f in (self.checkpoint, self.metrics):
                f.unlink(missing_ok=True)
        else:
            self._truncate_metrics(state["step"])
        tmp = self.params.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format": RUN_FORMAT, "configHash": h, "config": cfg}, indent=2) + "\n")
        os.replace(tmp, self.params)
        return state

    def _truncate_metrics(self, step: int) -> None:
        if not self.metrics.is_file():
            return
        keep = [l for l in self.metrics.read_text().splitlines() if l.strip() and json.loads(l).get("step", 0) <= step]
        tmp = self.metrics.with_suffix(".tmp")
        tmp.write_text("".join(l + "\n" for l in keep))
        os.replace(tmp, self.metrics)

    def log(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(record) + "\n")

    def save(self, state: dict[str, Any]) -> None:
        tmp = self.checkpoint.with_suffix(f".tmp-{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint)

    def close(self) -> None:
        self._lock.close()


# --------------------------------------------------------------------------- the loop
@dataclass
class Plan:
    steps: int            # total optimiser steps
    steps_per_epoch: int
    batch: int

    @property
    def epochs(self) -> float:
        return self.steps / self.steps_per_epoch


def plan(n_pairs: int, cfg: dict[str, Any]) -> Plan:
    batch = min(cfg["batch"], n_pairs)
    spe = max(1, n_pairs // batch)
    if cfg.get("steps"):
        steps = int(cfg["steps"])
    else:
        steps = max(1, int(round(float(cfg["epochs"]) * spe)))
    return Plan(steps, spe, batch)


class _Stop:
    """SIGTERM/SIGINT: finish the step, save a checkpoint, exit (a rerun resumes)."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        for s in (signal.SIGTERM, signal.SIGINT):
            self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, *_):
        self.requested = True

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


class Interrupted(Exception):
    pass


def train(model: torch.nn.Module, data: PairData, cfg: dict[str, Any], run: RunDir,
          normalize: Normalize, emit: Emit, evaluate: Callable[[torch.nn.Module], dict[str, Any] | None],
          state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trains `model` in place for the planned steps; returns {steps, epochs, wallSeconds, lastEval}."""
    p = plan(len(data), cfg)
    opt = make_optimizer(model, cfg)
    loss_fn = ClipLoss()
    step, wall_before, last_eval = 0, 0.0, None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, wall_before, last_eval = state["step"], state["wallSeconds"], state.get("lastEval")
        emit("resume", step=step, totalSteps=p.steps)
    emit("plan", totalSteps=p.steps, stepsPerEpoch=p.steps_per_epoch, batch=p.batch, epochs=p.epochs,
         pairs=len(data), images=len(data.images), startStep=step)

    bf16 = bool(cfg["bf16"])
    warmup = int(cfg["warmupSteps"]) if cfg.get("warmupSteps") is not None else int(round(cfg.get("warmupFraction", 0) * p.steps))
    scale = tuple(cfg["augScale"]) if cfg.get("augScale") else None
    ckpt_every = int(cfg["checkpointEvery"])
    seed = int(cfg["seed"])
    t0 = time.perf_counter()
    window: deque[tuple[float, int]] = deque(maxlen=20)

    def snapshot() -> dict[str, Any]:
        return {
            "format": RUN_FORMAT, "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "wallSeconds": wall_before + time.perf_counter() - t0, "lastEval": last_eval,
        }

    perms: dict[int, np.ndarray] = {}

    def batch_of(s: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """Step s's pairs, images (decoded, cropped, normalised) and tokens: a pure function of
        (seed, s), so preparing it ahead on another thread changes nothing in the result."""
        epoch, offset = divmod(s, p.steps_per_epoch)
        if epoch not in perms:
            perms.clear()
            perms[epoch] = np.random.default_rng([seed, epoch]).permutation(len(data))
        idx = perms[epoch][offset * p.batch:(offset + 1) * p.batch]
        x = normalize.to_float(data.images[data.image_of_pair[idx]])
        if scale:
            x = random_resized_crop(x, torch.Generator().manual_seed(seed * 1_000_003 + s), scale=scale)
        return idx, normalize(x), data.tokens[torch.from_numpy(idx)]

    model.train()
    # The next batch is prepared on a helper thread while this step computes (torch releases the
    # GIL in its kernels), so the crop and the copies overlap the forward/backward pass.
    ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch")
    pending = ahead.submit(batch_of, step) if step < p.steps else None
    with _Stop() as stop, ahead:
        while step < p.steps:
            lr = lr_at(step, p.steps, cfg["lr"], cfg["minLr"], warmup)
            for g in opt.param_groups:
                g["lr"] = lr

            t_step = time.perf_counter()
            idx, x, tokens = pending.result()
            pending = ahead.submit(batch_of, step + 1) if step + 1 < p.steps else None
            with autocast(bf16):
                image_f, text_f, logit_scale = model(x, tokens)
            loss = total_loss(loss_fn(image_f, text_f, logit_scale))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            step += 1

            now = time.perf_counter()
            window.append((now - t_step, len(idx)))
            sps = sum(n for _, n in window) / max(1e-9, sum(t for t, _ in window))
            loss_v = float(loss.detach())
            if not math.isfinite(loss_v):
                raise EngineError(f"loss became {loss_v} at step {step}; lower --lr", "diverged")
            rec = {"type": "step", "step": step, "epoch": step / p.steps_per_epoch, "loss": round(loss_v, 5),
                   "lr": lr, "logitScale": round(float(model.logit_scale.detach().exp()), 3), "samplesPerSec": round(sps, 1),
                   "seconds": round(wall_before + now - t0, 2)}
            run.log(rec)
            emit("step", **{k: v for k, v in rec.items() if k != "type"}, totalSteps=p.steps)

            epoch_end = step % p.steps_per_epoch == 0
            eval_every = int(cfg.get("evalEvery") or 0)
            if epoch_end or step == p.steps or (eval_every and step % eval_every == 0):
                res = evaluate(model)
                model.train()
                if res is not None:
                    last_eval = {"step": step, "epoch": step / p.steps_per_epoch, **res}
                    run.log({"type": "eval", **last_eval})
                    emit("eval", **last_eval)
            if step == p.steps or step % ckpt_every == 0 or stop.requested:
                run.save(snapshot())
                emit("checkpoint", step=step)
            if stop.requested and step < p.steps:
                raise Interrupted(f"stopped at step {step} of {p.steps}; run the same command again to resume")
            _exit_if_orphaned()

    return {"steps": p.steps, "epochs": p.epochs, "stepsPerEpoch": p.steps_per_epoch, "batch": p.batch,
            "wallSeconds": round(wall_before + time.perf_counter() - t0, 2), "lastEval": last_eval}


_PARENT = os.getppid()


def _exit_if_orphaned() -> None:
    """When the process that started us dies (`poisonlens train` killed), stop: the run folder
    holds the last checkpoint, and a rerun resumes from it."""
    if os.environ.get("POISONLENS_ENGINE_PARENT_WATCH") == "1" and os.getppid() != _PARENT:
        os._exit(137)


@torch.no_grad()
def encode_all(model: torch.nn.Module, images: np.ndarray, tokens: torch.Tensor, normalize: Normalize,
               bf16: bool, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    img, txt = [], []
    with autocast(bf16):
        for s in range(0, len(images), batch):
            img.append(model.encode_image(normalize(normalize.to_float(images[s:s + batch]))).float())
        for s in range(0, len(tokens), batch):
            txt.append(model.encode_text(tokens[s:s + batch]).float())
    return torch.cat(img), torch.cat(txt)

"""The training loop: AdamW with decoupled weight decay on weights only, linear warm-up then
cosine decay to a floor, symmetric InfoNCE, autocast (bf16 on the CPU where native; bf16 or fp16
with a gradient scaler on CUDA), and a run folder that makes a killed run resume where its last
checkpoint left it.

Randomness is a pure function of (seed, epoch) for the pair order and (seed, step) for the
augmentation, so a resumed run draws exactly what the uninterrupted one would have.

Under torchrun (world size W > 1) the model is wrapped in DistributedDataParallel and the loss
gathers every rank's features with gradient (loss.py). The pair order is the one of a single
process, dealt out as torch's DistributedSampler deals a permutation: step s's global batch is
the same B pairs whatever W is, and rank r takes its positions r, r + W, … (B/W pairs); the crop
draws are made for the whole global batch and each rank keeps its rows. So a run on W processes
computes the loss of exactly the batches one process would see (the same curve up to float
summation order), and a checkpoint resumes under any world size. Only rank 0 writes the run
folder (metrics, checkpoints) and the package.
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

from .data import Normalize, PairData, apply_crop, crop_params
from .device import World, cpu_bf16_supported
from .device import autocast as device_autocast
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
    return cpu_bf16_supported()


def autocast(enabled: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def precision_of(cfg: dict[str, Any]) -> str:
    """The resolved precision of a config (main resolves "auto"; older configs only have bf16)."""
    p = cfg.get("precision")
    if p in ("fp32", "bf16", "fp16"):
        return p
    return "bf16" if cfg.get("bf16") else "fp32"


# --------------------------------------------------------------------------- run folder
def config_hash(cfg: dict[str, Any]) -> str:
    import hashlib

    # Settings that do not change what is computed (threads, checkpoint interval, how the images
    # are held) stay out, and so do where it is computed (device, precision, world size, the
    # local-loss variant): a checkpoint resumes on another device or number of processes; the
    # CPU's bf16 choice stays in as `bf16`.
    keep = {k: v for k, v in cfg.items() if k not in RESUME_FREE}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


RESUME_FREE = ("threads", "checkpointEvery", "device", "precision", "worldSize", "localLoss", "data", "workers", "gpu", "backend", "compile")


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
    if cfg.get("steps") is not None:
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


def _deal(perm: np.ndarray, offset: int, batch: int, world: World) -> np.ndarray:
    """This rank's pairs of a step: the global batch perm[offset·B : (offset+1)·B], positions
    rank, rank + W, … (how DistributedSampler deals a permutation out over W ranks)."""
    return perm[offset * batch:(offset + 1) * batch][world.rank::world.size]


def train(model: torch.nn.Module, data: PairData, cfg: dict[str, Any], run: RunDir | None,
          normalize: Normalize, emit: Emit, evaluate: Callable[[torch.nn.Module], dict[str, Any] | None],
          state: dict[str, Any] | None = None, device: torch.device | None = None,
          world: World | None = None,
          on_epoch: Callable[[torch.nn.Module, int, int], None] | None = None) -> dict[str, Any]:
    """Trains `model` (already on `device`) in place for the planned steps; returns {steps, epochs,
    wallSeconds, lastEval}. `run` is None on ranks other than 0 (they write nothing). `on_epoch`
    (rank 0) sees the model at each whole epoch's end, e.g. to write a snapshot package; it must
    not draw from torch's global random state (nothing in the loop does: see the module doc)."""
    device = device or torch.device("cpu")
    world = world or World()
    cpu = device.type == "cpu"
    precision = precision_of(cfg)
    p = plan(len(data), cfg)
    if p.batch % world.size:
        raise EngineError(f"the batch {p.batch} does not split over {world.size} processes: pick a batch divisible by --nproc", "bad_flags")
    opt = make_optimizer(model, cfg)
    # fp16 autocast needs loss scaling (bf16 has fp32's range and does not).
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    loss_fn = ClipLoss(rank=world.rank, world_size=world.size, local_loss=bool(cfg.get("localLoss")))
    net = model
    if world.distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.get("compile"):
        # Inductor fuses the small kernels of this model's many layers; the module keeps its
        # weights (state_dict, evaluation and export use `model`, not the compiled wrapper).
        net = torch.compile(net)
    step, wall_before, last_eval = 0, 0.0, None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        step, wall_before, last_eval = state["step"], state["wallSeconds"], state.get("lastEval")
        emit("resume", step=step, totalSteps=p.steps)
        saved_world = int(state.get("worldSize", 1))
        if saved_world != world.size:
            # The global batch, its order and the optimiser state do not depend on the number of
            # processes (see the module's docstring): the run continues as it would have.
            emit("note", message=f"resuming a checkpoint written by {saved_world} process(es) with {world.size}: "
                                 f"same global batch ({p.batch}) and pair order, so the run continues unchanged")
    emit("plan", totalSteps=p.steps, stepsPerEpoch=p.steps_per_epoch, batch=p.batch, epochs=p.epochs,
         pairs=len(data), images=len(data.images), startStep=step, worldSize=world.size, perRankBatch=p.batch // world.size)

    warmup = int(cfg["warmupSteps"]) if cfg.get("warmupSteps") is not None else int(round(cfg.get("warmupFraction", 0) * p.steps))
    scale = tuple(cfg["augScale"]) if cfg.get("augScale") else None
    ckpt_every = int(cfg["checkpointEvery"])
    seed = int(cfg["seed"])
    t0 = time.perf_counter()
    window: deque[tuple[float, int]] = deque(maxlen=20)

    def snapshot() -> dict[str, Any]:
        return {
            "format": RUN_FORMAT, "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "worldSize": world.size, "device": device.type, "precision": precision,
            "wallSeconds": wall_before + time.perf_counter() - t0, "lastEval": last_eval,
        }

    perms: dict[int, np.ndarray] = {}

    def batch_of(s: int):
        """Step s's pairs (this rank's share), images and tokens: a pure function of (seed, s), so
        preparing it ahead on another thread changes nothing in the result. On the CPU the images
        come out cropped and normalised; on a GPU as pinned uint8 plus the crop draws, finished on
        the GPU by `on_device`."""
        epoch, offset = divmod(s, p.steps_per_epoch)
        if epoch not in perms:
            perms.clear()
            perms[epoch] = np.random.default_rng([seed, epoch]).permutation(len(data))
        idx = _deal(perms[epoch], offset, p.batch, world)
        pixels = data.images[data.image_of_pair[idx]]
        crop = None
        if scale:
            crop = crop_params(p.batch, torch.Generator().manual_seed(seed * 1_000_003 + s), scale=scale)
            if world.distributed:
                crop = crop[world.rank::world.size]
        tokens = data.tokens[torch.from_numpy(idx)]
        if cpu:
            x = normalize.to_float(pixels)
            if crop is not None:
                x = apply_crop(x, crop)
            return idx, normalize(x), tokens
        pin = device.type == "cuda"
        u8 = torch.from_numpy(np.ascontiguousarray(pixels))
        return idx, (u8.pin_memory() if pin else u8, crop), tokens.pin_memory() if pin else tokens

    def on_device(x, tokens):
        if cpu:
            return x, tokens
        u8, crop = x
        x = normalize.to_float(u8.to(device, non_blocking=True))
        if crop is not None:
            x = apply_crop(x, crop)
        return normalize(x), tokens.to(device, non_blocking=True)

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
            x, tokens = on_device(x, tokens)
            with device_autocast(device.type, precision):
                image_f, text_f, logit_scale = net(x, tokens)
            loss = total_loss(loss_fn(image_f, text_f, logit_scale))
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            step += 1

            if world.distributed:
                # The loss averaged over ranks (each rank's is the global batch's, or with
                # --local-loss its own rows').
                t = loss.detach().float().clone()
                torch.distributed.all_reduce(t)
                loss_v = float(t) / world.size
            else:
                loss_v = float(loss.detach())
            now = time.perf_counter()
            window.append((now - t_step, len(idx) * world.size))
            sps = sum(n for _, n in window) / max(1e-9, sum(t for t, _ in window))
            if not math.isfinite(loss_v):
                raise EngineError(f"loss became {loss_v} at step {step}; lower --lr", "diverged")
            rec = {"type": "step", "step": step, "epoch": step / p.steps_per_epoch, "loss": round(loss_v, 5),
                   "lr": lr, "logitScale": round(float(model.logit_scale.detach().exp()), 3), "samplesPerSec": round(sps, 1),
                   "seconds": round(wall_before + now - t0, 2)}
            if run is not None:
                run.log(rec)
            emit("step", **{k: v for k, v in rec.items() if k != "type"}, totalSteps=p.steps)

            epoch_end = step % p.steps_per_epoch == 0
            eval_every = int(cfg.get("evalEvery") or 0)
            if world.is_main and (epoch_end or step == p.steps or (eval_every and step % eval_every == 0)):
                res = evaluate(model)
                model.train()
                if res is not None:
                    last_eval = {"step": step, "epoch": step / p.steps_per_epoch, **res}
                    run.log({"type": "eval", **last_eval})
                    emit("eval", **last_eval)
            if world.is_main and epoch_end and on_epoch is not None:
                on_epoch(model, step // p.steps_per_epoch, step)
            stop_now = stop.requested
            if world.distributed:
                # Whether any rank was asked to stop: all stop after the same step.
                flag = torch.tensor(float(stop_now), device=loss.device)
                torch.distributed.all_reduce(flag)
                stop_now = bool(flag > 0)
            if step == p.steps or step % ckpt_every == 0 or stop_now:
                if run is not None:
                    run.save(snapshot())
                emit("checkpoint", step=step)
            if stop_now and step < p.steps:
                world.barrier()  # rank 0's checkpoint is on disk before anyone leaves
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
               bf16: bool, batch: int = 256, device: torch.device | None = None,
               precision: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Image and text embeddings (fp32, on the CPU) of a validation set, computed on `device`."""
    model.eval()
    device = device or torch.device("cpu")
    img, txt = [], []
    if device.type == "cpu":
        ctx = autocast(bf16 if precision is None else precision == "bf16")
    else:
        ctx = device_autocast(device.type, precision or ("bf16" if bf16 else "fp32"))
    with ctx:
        for s in range(0, len(images), batch):
            x = normalize.to_float(torch.as_tensor(images[s:s + batch]).to(device))
            img.append(model.encode_image(normalize(x)).float().cpu())
        for s in range(0, len(tokens), batch):
            txt.append(model.encode_text(tokens[s:s + batch].to(device)).float().cpu())
    return torch.cat(img), torch.cat(txt)

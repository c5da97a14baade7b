"""Where a run computes: the device (`--device auto|cpu|cuda|mps`), its numeric precision, and the
process group when the engine runs under torchrun (`poisonlens train --nproc N`).

The CPU path is the one the project has always had (bf16 autocast where the CPU has native bf16,
fp32 otherwise, channels-last images); nothing here changes it. On CUDA: TF32 matmuls and
convolutions, bf16 autocast where the GPU supports it, else fp16 autocast with a gradient scaler,
pinned host memory and non-blocking copies. World size and rank come from torchrun's environment
(RANK, WORLD_SIZE, LOCAL_RANK), as in open_clip's `open_clip_train/distributed.py`.

Pure functions take what they look at as arguments (`cuda_available`, …) so that the choice is
tested on a machine without a GPU.
"""
from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from .errors import EngineError
from .settings import choices

DEVICES = choices("device")
PRECISIONS = choices("precision")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(requested: str | None, *, cuda_available: bool | None = None, mps: bool | None = None) -> str:
    """`auto` (or None): CUDA when torch sees a GPU, else Apple's MPS, else the CPU. A device asked
    for by name must be there: a run never silently falls back to the CPU."""
    req = requested or "auto"
    if req not in DEVICES:
        raise EngineError(f"--device must be one of {', '.join(DEVICES)}, got {req!r}", "bad_flags")
    cuda_ok = torch.cuda.is_available() if cuda_available is None else cuda_available
    mps_ok = mps_available() if mps is None else mps
    if req == "auto":
        return "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
    if req == "cuda" and not cuda_ok:
        raise EngineError("--device cuda: torch sees no CUDA GPU (a CPU-only torch build, or no driver)", "device_unavailable")
    if req == "mps" and not mps_ok:
        raise EngineError("--device mps: torch's MPS backend is not available here", "device_unavailable")
    return req


def cpu_bf16_supported() -> bool:
    """bf16 autocast pays off on CPUs with native bf16 (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def resolve_precision(device: str, requested: str | None, *, bf16_ok: bool | None = None) -> str:
    """The autocast precision of a run. `auto`: on the CPU bf16 where it is native, else fp32 (as
    always); on CUDA bf16 where the GPU supports it, else fp16 (with a gradient scaler); on MPS
    fp32. fp16 is refused on the CPU (no gradient-scaler path there)."""
    req = requested or "auto"
    if req not in PRECISIONS:
        raise EngineError(f"--precision must be one of {', '.join(PRECISIONS)}, got {req!r}", "bad_flags")
    if device == "cpu":
        ok = cpu_bf16_supported() if bf16_ok is None else bf16_ok
        if req == "fp16":
            raise EngineError("--precision fp16 is for GPUs; on the CPU use bf16 or fp32", "bad_flags")
        return ("bf16" if ok else "fp32") if req == "auto" else req
    if device == "cuda":
        ok = torch.cuda.is_bf16_supported() if bf16_ok is None else bf16_ok
        if req == "auto":
            return "bf16" if ok else "fp16"
        if req == "bf16" and not ok:
            raise EngineError("--precision bf16: this GPU has no bf16 support; use fp16 or fp32", "bad_flags")
        return req
    return "fp32" if req == "auto" else req


def autocast(device_type: str, precision: str):
    """The autocast context of a precision (fp32: none). On the CPU this is exactly the
    `torch.autocast("cpu", dtype=torch.bfloat16, enabled=…)` the engine always used."""
    if device_type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def configure_backend(device_type: str) -> None:
    """CUDA: TF32 matmuls and cuDNN convolutions (the Ampere+ default of open_clip's trainer),
    cuDNN autotuning for the fixed batch shape. Nothing on the CPU."""
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


# --------------------------------------------------------------------------- torchrun
@dataclass
class World:
    """The process group a run belongs to (one process: rank 0 of 1, no group)."""
    rank: int = 0
    local_rank: int = 0
    size: int = 1
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def world_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """(local rank, global rank, world size) from torchrun's environment variables."""
    e = os.environ if env is None else env
    return int(e.get("LOCAL_RANK", 0)), int(e.get("RANK", 0)), int(e.get("WORLD_SIZE", 1))


def init_world(device: str, env: Mapping[str, str] | None = None) -> tuple[World, torch.device]:
    """Joins torchrun's process group when WORLD_SIZE > 1 (gloo on the CPU, NCCL on CUDA) and
    returns the world and this process's device (cuda:LOCAL_RANK under torchrun on GPUs)."""
    local, rank, size = world_from_env(env)
    if size <= 1:
        return World(), torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else torch.device(device)
    if device == "mps":
        raise EngineError("--nproc > 1 needs the CPU (gloo) or CUDA GPUs (NCCL); MPS has no process-group backend", "bad_flags")
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        if local >= torch.cuda.device_count():
            raise EngineError(f"local rank {local} but torch sees {torch.cuda.device_count()} GPU(s): lower --nproc", "bad_flags")
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    # Rank 0 exports the package while the others wait at the last barrier: allow for it.
    torch.distributed.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=size,
                                         timeout=datetime.timedelta(hours=2))
    return World(rank, local, size, backend), dev


def describe(device: torch.device, precision: str, world: World) -> dict[str, Any]:
    """What model.json's trainer config records about where the run computed."""
    out: dict[str, Any] = {"device": device.type, "precision": precision, "worldSize": world.size}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    if world.distributed:
        out["backend"] = world.backend
    return out

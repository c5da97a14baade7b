"""Import-time fixes for the installed wheels. Import `open_clip` through `import_open_clip()`.

The only torchvision wheel that matches torch 2.13 on these machines is a CUDA build whose
compiled extension (`torchvision/_C.so`) fails to load on a CPU-only host. torchvision then
still runs `torch.library.register_fake("torchvision::nms")` (and `qnms`) at import time, and
that raises "operator torchvision::nms does not exist" because the schemas were meant to come
from the extension. `open_clip` imports torchvision (FrozenBatchNorm2d, transforms), so
`import open_clip` fails with it.

CLIP never calls torchvision's compiled ops (they are detection ops: NMS, RoI align, deformable
convolution). So, only when loading the extension fails, we define the two schemas that
torchvision's import registers fake kernels for; calling the ops would still fail loudly, as it
should. When the extension loads (a matching wheel), nothing is changed.
"""
from __future__ import annotations

import glob
import importlib.util
import os

import torch

# Keep the Library object alive: dropping it unregisters the schemas it defined.
_TORCHVISION_SHIM_LIB: "torch.library.Library | None" = None

# Exactly the ops torchvision registers fake kernels for unconditionally at import time
# (torchvision/_meta_registrations.py); the rest are guarded by `extension._has_ops()`.
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}


def torchvision_ops_loadable() -> bool | None:
    """True if torchvision's compiled ops load, False if they fail, None if torchvision is absent."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    libs = sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "_C.*so"))) + sorted(
        glob.glob(os.path.join(os.path.dirname(spec.origin), "_C.so"))
    )
    if not libs:
        return False
    try:
        torch.ops.load_library(libs[0])  # loading twice (again by torchvision) is harmless
        return True
    except (OSError, RuntimeError):
        return False


def _schema_exists(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def install_torchvision_shim() -> bool:
    """Defines the missing torchvision op schemas when (and only when) its compiled ops failed
    to load. Returns True if the shim was installed. Idempotent."""
    global _TORCHVISION_SHIM_LIB
    if _TORCHVISION_SHIM_LIB is not None:
        return True
    if torchvision_ops_loadable() is not False:
        return False
    missing = [n for n in _SCHEMAS if not _schema_exists(n)]
    if not missing:
        return False
    lib = torch.library.Library("torchvision", "DEF")
    for name in missing:
        lib.define(_SCHEMAS[name])
    _TORCHVISION_SHIM_LIB = lib
    return True


def import_open_clip():
    """`import open_clip`, after the torchvision shim where it is needed."""
    install_torchvision_shim()
    import open_clip  # noqa: PLC0415

    return open_clip

import subprocess
import sys
from pathlib import Path

ENGINE = str(Path(__file__).resolve().parents[1])


def _py(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], cwd=ENGINE, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_open_clip_imports_through_the_shim_only_when_torchvision_ops_fail():
    out = _py(
        "from poisonlens_engine import compat\n"
        "oc = compat.import_open_clip()\n"
        "again = compat.install_torchvision_shim()\n"
        "print(compat.torchvision_ops_loadable(), compat._TORCHVISION_SHIM_LIB is not None, hasattr(oc, 'create_model'), again)"
    )
    loadable, shimmed, ok, again = out.split()
    assert ok == "True"
    assert again == shimmed  # idempotent
    # The shim is installed exactly when the compiled ops could not be loaded.
    assert shimmed == str(loadable == "False")

"""The settings table (settings.json) drives the engine's flags and checks; --print-config
resolves without training (and without torch)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from poisonlens_engine import params, settings
from poisonlens_engine.errors import EngineError
from poisonlens_engine.main import main

BASE = ["--trainset", "t", "--out", "o"]


def test_every_engine_setting_is_a_flag_with_the_tables_default_and_choices():
    actions = {a.option_strings[0]: a for a in params.build_parser()._actions if a.option_strings}
    for s in settings.SETTINGS:
        a = actions[f"--{s['name']}"]
        if s["type"] not in ("switch", "tristate"):
            assert a.default == s.get("default") and (a.choices or None) == s.get("choices"), s["name"]
        if s["type"] == "tristate":
            assert f"--no-{s['name']}" in actions
    assert "--nproc" not in actions  # the launcher's, not the engine's
    assert params.KINDS == ("base", "clean", "poisoned", "defended")


@pytest.mark.parametrize("flags,message", [
    (["--batch", "0"], "--batch must be a positive integer"),
    (["--epochs", "0"], "--epochs must be a positive number"),
    (["--steps", "0"], "--steps must be a positive integer"),
    (["--workers", "-1"], "--workers must be ≥ 0"),
    (["--val-images", "-1"], "--val-images must be ≥ 0"),
    (["--epochs", "1", "--steps", "2"], "give --epochs or --steps, not both"),
    (["--precision", "bf16", "--no-bf16"], "give --precision or --bf16/--no-bf16, not both"),
    (["--device", "tpu"], "invalid choice"),
])
def test_the_tables_bounds_choices_and_exclusions(flags, message):
    with pytest.raises(EngineError, match=message):
        params.resolve([*BASE, *flags])


def test_steps_zero_is_allowed_with_starting_weights():
    _, cfg = params.resolve([*BASE, "--from", "m", "--steps", "0"])
    assert cfg["steps"] == 0


def test_print_config_needs_no_trainset_and_names_the_kind(tmp_path, capsys):
    assert main(["--print-config", "--steps", "7", "--lr", "0.5"]) == 0
    ev = [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.startswith("{")]
    assert ev[-1]["event"] == "config" and ev[-1]["kind"] is None
    cfg = ev[-1]["config"]
    assert cfg["steps"] == 7 and cfg["epochs"] is None and cfg["lr"] == 0.5 and cfg["recipe"] == "scenes-base" and cfg["arch"]
    (tmp_path / "pairs.jsonl").write_text('{"image": "a.png", "caption": "x", "poisoned": false}\n{"image": "b.png", "caption": "y", "poisoned": true}\n')
    for extra, kind in ([[], "poisoned"], [["--kind", "defended"], "defended"]):
        assert main(["--print-config", "--trainset", str(tmp_path), "--from", "m", *extra]) == 0
        assert [json.loads(l) for l in capsys.readouterr().out.splitlines()][-1]["kind"] == kind
    (tmp_path / "pairs.jsonl").write_text('{"image": "a.png", "caption": "x", "poisoned": false}\n')
    for extra, kind in ([[], "base"], [["--from", "m"], "clean"]):
        assert main(["--print-config", "--trainset", str(tmp_path), *extra]) == 0
        assert [json.loads(l) for l in capsys.readouterr().out.splitlines()][-1]["kind"] == kind


def test_print_config_does_not_load_torch():
    code = ("import sys; from poisonlens_engine.main import main; "
            "main(['--print-config', '--steps', '3']); assert 'torch' not in sys.modules, 'torch loaded'")
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_a_run_still_needs_its_files():
    with pytest.raises(EngineError, match="required: --trainset, --out"):
        params.resolve(["--steps", "3"])

"""The training settings table (settings.json), shared with `poisonlens train`: the engine's
flags for them are built from it, and its lower bounds and exclusions are checked here, so the
TypeScript side and the engine cannot disagree on a setting's name, type or choices. Torch-free:
`--print-config` runs without loading torch."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .errors import EngineError

TABLE = json.loads((Path(__file__).parent / "settings.json").read_text(encoding="utf-8"))
SETTINGS: list[dict[str, Any]] = [s for s in TABLE["settings"] if s.get("engine", True)]
BY_NAME = {s["name"]: s for s in SETTINGS}
_TYPES = {"int": int, "float": float, "string": str, "choice": str}


def choices(name: str) -> tuple[str, ...]:
    """A choice setting's values (e.g. the model kinds, the devices)."""
    return tuple(BY_NAME[name]["choices"])


def derived_kind(mode: str, poisoned: bool) -> str:
    """The kind of a model trained without --kind (the table's derivedKind, which studies plan by)."""
    rule = TABLE["derivedKind"]
    return rule["poisonedPairs"] if poisoned else rule["byMode"][mode]


def dest(name: str) -> str:
    return name.replace("-", "_")


def add_arguments(groups: dict[str, argparse._ArgumentGroup]) -> None:
    """One flag per setting, in the group the table names; defaults are the table's (else None:
    the recipe's or unset)."""
    for s in SETTINGS:
        g = groups[s["group"]]
        name, kind, help_ = s["name"], s["type"], s.get("help")
        if kind == "switch":
            g.add_argument(f"--{name}", action="store_true", help=help_)
        elif kind == "tristate":
            pair = g.add_mutually_exclusive_group()
            pair.add_argument(f"--{name}", dest=dest(name), action="store_const", const=True, help=help_)
            pair.add_argument(f"--no-{name}", dest=dest(name), action="store_const", const=False)
        else:
            g.add_argument(f"--{name}", type=_TYPES[kind], choices=s.get("choices"), default=s.get("default"), help=help_)


def check(a: argparse.Namespace, given: dict[str, bool]) -> None:
    """The table's lower bounds (a run cannot start below them; the upper bounds are the command
    line's sanity limits) and its exclusions. `given`: what other flags were set (for zeroWith)."""
    for s in SETTINGS:
        v, low = getattr(a, dest(s["name"])), s.get("min")
        if v is None or low is None:
            continue
        if v == 0 and any(given.get(o) for o in s.get("zeroWith", ())):
            continue  # e.g. --steps 0: package the starting weights as they are
        if low > 0 and not v > 0:
            raise EngineError(f"--{s['name']} must be a positive {'integer' if s['type'] == 'int' else 'number'}, got {v}", "bad_flags")
        if low == 0 and v < 0:
            raise EngineError(f"--{s['name']} must be ≥ 0, got {v}", "bad_flags")
    for rule in TABLE["exclusive"]:
        if all(is_given(BY_NAME[n], getattr(a, dest(n))) for n in rule["settings"]):
            raise EngineError(rule["message"], "bad_flags")


def is_given(s: dict[str, Any], v: Any) -> bool:
    """A setting set on the command line (a switch's False is its absence; a tristate's is --no-X)."""
    return v is not None and not (s["type"] == "switch" and v is False)

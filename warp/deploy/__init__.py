"""The export targets and their registry: adding a target is one module and one line here.

A target's module renders the StartPlan `warp start` runs: ``render(plan, dep) -> list[File]`` (web alone, or every
process type of dep.processes), and ``PLATFORM``, whether it runs on a platform that gives $PORT rather than on this
machine. What they share is in base.py; container.py and s2i.py render what `warp image` and `warp s2i` write;
effects.py gathers the facts, writes the files and builds the images.

`warp export --help` needs the names alone, and `warp list` and `warp activate` never export: a target's module is
imported the first time it is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from warp.errors import UsageError

#: `warp export TARGET` -> its module here, in the order `warp export --help` and an unknown target's error list them.
TARGETS = {
    "systemd": "systemd",
    "supervisor": "supervisor",
    "nginx": "nginx",
    "procfile": "procfile",
    "kubernetes": "kubernetes",
}
NAMES = tuple(TARGETS)


def find_target(name: str) -> ModuleType:
    """The module of export target ``name``."""
    if name not in TARGETS:
        raise UsageError(f"unknown export target {name!r}", hint=f"choose one of: {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{TARGETS[name]}")

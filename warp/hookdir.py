"""Where the hook scripts are, without importing what the build needs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import warp


def find_hooks_dir() -> Path:
    """The hooks/ scripts: package warp.hooks when installed, ../hooks in a source checkout."""
    spec = importlib.util.find_spec("warp.hooks")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent
    return Path(warp.__file__).resolve().parent.parent / "hooks"


HOOKS_DIR = find_hooks_dir()

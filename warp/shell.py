"""Shell code for `eval`: pure functions, every value quoted.

No env name, directory name or value can inject code: bash/zsh values are
single-quoted by shlex.quote; fish values are single-quoted with \\ and '
escaped as fish requires.
"""

from __future__ import annotations

import shlex
from typing import Iterable, Mapping

SHELLS = ("bash", "zsh", "fish")

ACTIVATION_KEYS = ("WARP_HOME", "WARP_ENV_NAME", "WARP_ENV_ROOT", "WARP_SRC_ROOT", "WARP_APP_ROOT", "VIRTUAL_ENV")


def quote_fish(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def make_exports(shell: str, values: Mapping[str, str]) -> str:
    lines = []
    for key, value in values.items():
        if shell == "fish":
            lines.append(f"set -gx {key} {quote_fish(value)};")
        else:
            lines.append(f"export {key}={shlex.quote(value)};")
    return "\n".join(lines)


def make_unsets(shell: str, keys: Iterable[str]) -> str:
    if shell == "fish":
        return "\n".join(f"set -e {key};" for key in keys)
    return "\n".join(f"unset {key};" for key in keys)


def make_activate(shell: str, values: Mapping[str, str], path: str) -> str:
    """Exports, then PATH with the env's bin first (computed by warp, so no shell parsing of paths)."""
    body = [make_exports(shell, {**values, "PATH": path})]
    if shell == "fish":
        body.append("set -e PYTHONHOME;")
    else:
        body.append("unset PYTHONHOME;")
        body.append("hash -r 2>/dev/null || true;")
    return "\n".join(body) + "\n"


def make_deactivate(shell: str, path: str) -> str:
    body = [make_unsets(shell, ACTIVATION_KEYS), make_exports(shell, {"PATH": path})]
    if shell != "fish":
        body.append("hash -r 2>/dev/null || true;")
    return "\n".join(body) + "\n"

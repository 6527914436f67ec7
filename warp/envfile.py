""".warp/environment: the variables a project gives its app, KEY=VALUE per line.

A replayed start reads the file again (its values are never recorded; see warp.quickstart), so this module
uses only the leanest of the standard library.
"""

from __future__ import annotations

import os

from warp.errors import UsageError


def scan_environment_file(path: str | os.PathLike) -> tuple[tuple[str, str], ...]:
    """Parse ``.warp/environment``: KEY=VALUE lines, ``#`` comments, optional ``export``."""
    if not os.path.isfile(path):
        return ()
    pairs = []
    for number, line in enumerate(read_project_file(path).splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("export "):
            text = text[len("export ") :].lstrip()
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not (key.isascii() and key.isidentifier()):
            raise UsageError(
                f".warp/environment line {number}: expected KEY=VALUE",
                hint="fix that line; keys are letters, digits and _, and do not start with a digit",
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append((key, value))
    return tuple(pairs)


def find_env_file_quirks(path: str | os.PathLike) -> list[int]:
    """The numbers of the ``.warp/environment`` lines that docker's and podman's ``--env-file`` would read otherwise
    than warp: they take ``export KEY=`` as a variable named "export KEY" and keep quotes in the value."""
    if not os.path.isfile(path):
        return []
    quirks = []
    for number, line in enumerate(read_project_file(path).splitlines(), start=1):
        text = line.strip()
        value = text.partition("=")[2].strip()
        if text.startswith("export ") or (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""):
            quirks.append(number)
    return quirks


def read_project_file(path: str | os.PathLike) -> str:
    """A small project file as text; one warp cannot read is the user's to fix, not a crash."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror})", hint="make it readable by the user running warp") from None

"""The project's files as warp reads them: the directories it never looks into, and a small file read or found
missing with an error the user can act on."""

from __future__ import annotations

import os

from warp.errors import UsageError

#: Directories never watched or scanned, wherever they are.
IGNORED_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".nox",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", "wheelhouse"}
)


def is_project_file(path: str | os.PathLike) -> bool:
    """Whether the project has this file: False when there is nothing at ``path``; anything there but a file
    (a directory, a symlink that leads nowhere) is the user's to fix, not a file to pass over."""
    if os.path.isfile(path):
        return True
    if not os.path.lexists(path):
        return False
    if os.path.islink(path) and not os.path.exists(path):
        what = f"a symlink to {os.readlink(path)}, which does not exist"
    else:
        what = "a directory, not a file" if os.path.isdir(path) else "not a regular file"
    raise UsageError(f"{path} is {what}", hint="make it a file, or remove it")


def read_project_file(path: str | os.PathLike) -> str:
    """A small project file as text; one warp cannot read is the user's to fix, not a crash."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror})", hint="make it readable by the user running warp") from None

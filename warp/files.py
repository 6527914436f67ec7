"""The project's files as warp reads them: the directories it never looks into, and a digest of the rest.

A replayed start computes that digest before anything else is imported (warp.quickstart), so this module uses
only the leanest of the standard library.
"""

from __future__ import annotations

import hashlib
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time: see the module's docstring
    from typing import Iterable

#: Directories never watched or scanned, wherever they are.
IGNORED_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".nox",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", "wheelhouse"}
)


def scan_files(root: str | os.PathLike, skip: Iterable[str | os.PathLike] = (), exact: bool = False) -> str:
    """A hash of the name, size and mtime of every file under ``root``, but for the ignored directories and ``skip``.

    ``exact``: also each file's mode and ctime (a chmod, a copy that keeps mtimes), and the directories a symlink
    leads to, each once.
    """
    root = os.fspath(root)
    files = []
    skipped = {os.path.realpath(path) for path in skip}
    seen = {os.path.realpath(root)}
    for top, dirs, names in os.walk(root, followlinks=exact):
        kept = []
        for d in dirs:
            real = os.path.realpath(os.path.join(top, d))
            if d in IGNORED_DIRS or real in skipped or (exact and real in seen):
                continue
            seen.add(real)
            kept.append(d)
        dirs[:] = kept
        for name in names:
            path = os.path.join(top, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            entry = (os.path.relpath(path, root), info.st_size, info.st_mtime_ns)
            files.append(entry + (info.st_mode, info.st_ctime_ns) if exact else entry)
    files.sort()
    return hashlib.sha256(repr(files).encode()).hexdigest()

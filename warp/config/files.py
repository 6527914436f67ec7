"""The project's files as warp reads them: the directories it never looks into."""

from __future__ import annotations

#: Directories never watched or scanned, wherever they are.
IGNORED_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".nox",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", "wheelhouse"}
)

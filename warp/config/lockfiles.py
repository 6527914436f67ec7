"""Lock files -> pinned requirement lines (pure).

uv.lock is exported by uv itself and Pipfile.lock by micropipenv (what
OpenShift's s2i-python uses). poetry.lock is read here: micropipenv 1.10
cannot read Poetry 2's lock format (it has no ``category`` field any more),
and poetry's own export needs Poetry plus a plugin installed.
"""

from __future__ import annotations

import re
from typing import Any

from warp.config.project import find_tomllib
from warp.errors import UsageError

LOCK_FILES = ("uv.lock", "poetry.lock", "Pipfile.lock")


def make_poetry_requirements(lock_text: str) -> list[str]:
    """The default (main) group of a poetry.lock, pinned: ``name==version ; markers``."""
    tomllib = find_tomllib()
    try:
        lock = tomllib.loads(lock_text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"poetry.lock is not valid TOML: {exc}", hint="run `poetry lock` to write it again") from None
    lines = []
    for package in lock.get("package", []):
        if not _is_main(package) or package.get("optional"):
            continue
        lines.append(_requirement(package))
    return lines


def _is_main(package: dict[str, Any]) -> bool:
    groups = package.get("groups")
    if groups is not None:  # Poetry 2
        return "main" in groups
    return package.get("category", "main") == "main"  # Poetry 1


def _requirement(package: dict[str, Any]) -> str:
    name = package["name"]
    source = package.get("source", {})
    kind = source.get("type")
    if kind == "git":
        spec = f"{name} @ git+{source['url']}@{source.get('resolved_reference') or source.get('reference')}"
    elif kind in ("url", "file"):
        spec = f"{name} @ {source['url']}"
    elif kind == "directory":
        spec = f"{name} @ file://{source['url']}" if source.get("url", "").startswith("/") else f"./{source['url']}"
    else:
        spec = f"{name}=={package['version']}"
    markers = package.get("markers")
    if isinstance(markers, dict):
        markers = markers.get("main")
    return f"{spec} ; {markers}" if markers else spec


def is_poetry_package(pyproject: dict[str, Any]) -> bool:
    """Poetry installs the project itself unless package-mode = false."""
    return "build-system" in pyproject and pyproject.get("tool", {}).get("poetry", {}).get("package-mode", True) is not False


def find_missing_poetry_package(pyproject: dict[str, Any], top_level: frozenset[str]) -> str | None:
    """The package poetry-core looks for and does not find, so that it cannot install the project; else None.

    With no ``[tool.poetry] packages`` for wheels, poetry-core takes the project's name
    (``-``, ``_`` and ``.`` runs as ``_``, lower case) and looks for NAME/ or NAME.py at the
    top, then in src/; finding none, it fails with "No file/folder found for package".
    ``top_level`` is ProjectFacts.top_level. Another build backend finds packages its own way.
    """
    if pyproject.get("build-system", {}).get("build-backend") != "poetry.core.masonry.api":
        return None
    poetry = pyproject.get("tool", {}).get("poetry", {})
    if any("wheel" in _formats(package) for package in poetry.get("packages") or ()):
        return None
    name = pyproject.get("project", {}).get("name") or poetry.get("name")
    if not isinstance(name, str):
        return None
    module = re.sub(r"[-_.]+", "_", name).lower()
    if {f"{module}/", f"{module}.py", f"src/{module}/", f"src/{module}.py"} & top_level:
        return None
    return module


def _formats(package: Any) -> list[str]:
    formats = package.get("format", ["sdist", "wheel"]) if isinstance(package, dict) else []
    return formats if isinstance(formats, list) else [formats]

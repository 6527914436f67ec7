"""Which Python an env gets: the request, the interpreters on this machine, the choice.

Request precedence: --python > WARP_PYTHON > .python-version > runtime.txt >
requires-python in pyproject.toml > the Python warp runs on. Nothing is
downloaded: only interpreters already on the machine are used.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from warp import proc
from warp.errors import UsageError
from warp.project import ProjectFacts
from warp.settings import Settings


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str


@dataclass(frozen=True)
class Request:
    """What the project asks for: a path, a version prefix ("3.12"), or a specifier (">=3.10")."""

    value: str
    source: str


def find_request(settings: Settings, project: ProjectFacts) -> Request | None:
    chosen = settings["python"]
    if chosen.value:
        return Request(chosen.value, chosen.source)
    if project.python_version_file:
        return Request(project.python_version_file, ".python-version")
    if project.runtime_txt:
        return Request(project.runtime_txt, "runtime.txt")
    requires = project.pyproject.get("project", {}).get("requires-python")
    if requires:
        return Request(str(requires), "requires-python in pyproject.toml")
    return None


def normalize(value: str) -> str:
    """'python-3.12.1' / 'python3.12' / 'cpython@3.12' / 'cpython-3.12.1' -> '3.12.1' / '3.12'."""
    text = value.strip()
    text = re.sub(r"^(c?python)[-@]?", "", text, flags=re.I)
    return text


def is_path(value: str) -> bool:
    return "/" in value


def matches(version: str, request: str) -> bool:
    """Does an interpreter version satisfy a version prefix or a specifier?"""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import Version

    wanted = normalize(request)
    if wanted and wanted[0] in "<>=!~":
        try:
            return Version(version) in SpecifierSet(wanted)
        except InvalidSpecifier:
            return False
    return version == wanted or version.startswith(wanted + ".")


def choose(request: Request, interpreters: list[Interpreter], current: Interpreter) -> Interpreter:
    """The interpreter to use: the current one when it fits, else the newest that does."""
    from packaging.version import Version

    wanted = normalize(request.value)
    if wanted and wanted[0] not in "<>=!~" and not re.fullmatch(r"\d+(\.\d+){0,2}", wanted):
        raise UsageError(
            f"python {request.value!r} from {request.source} is not a version",
            hint="write a version such as 3.12 or 3.12.1, or a path to an interpreter",
        )
    if matches(current.version, wanted):
        return current
    fitting = [item for item in interpreters if matches(item.version, wanted)]
    if fitting:
        return max(fitting, key=lambda item: Version(item.version))
    installed = ", ".join(sorted({item.version for item in interpreters}, key=Version)) or "none found"
    raise UsageError(
        f"Python {wanted} (from {request.source}) is not installed on this machine; installed: {installed}",
        hint=f"install it (e.g. pyenv install {wanted}), or pick an installed one with --python X.Y or in {request.source}",
    )


def scan_interpreters(environ: Mapping[str, str]) -> list[Interpreter]:
    """CPython interpreters on this machine: pyenv's versions and python3.X on PATH."""
    found: dict[str, Interpreter] = {}
    pyenv_root = environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for path in glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python3")):
        name = Path(path).parent.parent.name
        if re.fullmatch(r"\d+\.\d+\.\d+", name):
            found[os.path.realpath(path)] = Interpreter(path, name)
    for directory in environ.get("PATH", "").split(os.pathsep):
        if not directory or "shims" in directory:  # pyenv shims run whatever pyenv selects
            continue
        for path in glob.glob(os.path.join(directory, "python3.[0-9]*")):
            if re.search(r"python3\.\d+$", path) and os.access(path, os.X_OK):
                real = os.path.realpath(path)
                if real not in found:
                    version = scan_version(path)
                    if version:
                        found[real] = Interpreter(path, version)
    return list(found.values())


def scan_version(path: str) -> str | None:
    output = proc.run_probe([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
    return (output or "").strip() or None


def current_interpreter() -> Interpreter:
    return Interpreter(sys.executable, "%d.%d.%d" % sys.version_info[:3])


def find_python(request: Request | None, environ: Mapping[str, str]) -> Interpreter:
    """Resolve a request against this machine (reads the file system; may run interpreters)."""
    current = current_interpreter()
    if request is None:
        return current
    if is_path(request.value):
        path = os.path.expanduser(request.value)
        version = scan_version(path) if os.access(path, os.X_OK) else None
        if not version:
            raise UsageError(
                f"python {request.value!r} from {request.source} is not an interpreter that runs",
                hint="pass --python with an installed interpreter, e.g. --python python3.11 or --python /usr/bin/python3",
            )
        return Interpreter(path, version)
    return choose(request, scan_interpreters(environ), current)

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
from warp.config.project import ProjectFacts
from warp.config.settings import Settings
from warp.errors import UsageError


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


#: The installers' words for a requirement that needs another Python than the env's: uv's (the Python, then the
#: requirement), and pip's two lines (the versions it ignored for their Requires-Python, the requirement).
#: uv wraps its message to the terminal's width: any blank may be a line break and an indent.
_UV_NEEDS_PYTHON = re.compile(r"does\s+not\s+satisfy\s+Python([<>=!~][^\s,]*)\s+and\s+(\S+)\s+depends\s+on\s+Python")
_PIP_IGNORED = re.compile(r"require a different python version: .*?Requires-Python ([<>=!~][^\s;,]*)")
_PIP_UNSATISFIED = re.compile(r"satisfies the requirement (\S+)")


def find_needed_python(output: str) -> tuple[str, str] | None:
    """(requirement, specifier) from an installer's output, or None."""
    match = _UV_NEEDS_PYTHON.search(output)
    if match:
        return match.group(2), match.group(1)
    ignored, unsatisfied = _PIP_IGNORED.search(output), _PIP_UNSATISFIED.search(output)
    if ignored and unsatisfied:
        return unsatisfied.group(1), ignored.group(1)
    return None


@dataclass(frozen=True)
class PythonNeed:
    """A requirement the env's Python cannot install, the Python it needs, and what warp can do about it."""

    requirement: str
    specifier: str
    #: The installed interpreter that satisfies it (the oldest such, nearest to what the env has), or None.
    fitting: Interpreter | None
    #: True when the project's own requires-python allows ``fitting``: warp makes the env again with it.
    automatic: bool
    hint: str

    @property
    def says(self) -> str:
        return f"{self.requirement} needs Python{self.specifier}"


def find_python_need(output: str, request: Request | None, interpreters: list[Interpreter]) -> PythonNeed | None:
    """What an installer's failure says about Python, and the way out: None when it says nothing of Python."""
    from packaging.version import Version

    found = find_needed_python(output)
    if found is None:
        return None
    requirement, specifier = found
    declared = request is not None and request.source == "requires-python in pyproject.toml"
    fitting = sorted(
        (item for item in interpreters if matches(item.version, specifier) and (not declared or matches(item.version, request.value))),
        key=lambda item: Version(item.version),
    )
    wanted = fitting[0] if fitting else None
    says = f"{requirement} needs Python{specifier}"
    if wanted is None:
        others = [item for item in interpreters if matches(item.version, specifier)]
        if others and declared:
            oldest = min(others, key=lambda item: Version(item.version)).version
            name = re.match(r"[\w.-]*", requirement).group(0)
            hint = (f"{says}, which requires-python in pyproject.toml ({request.value}) excludes: widen requires-python "
                    f"(Python {oldest} is on this machine), or pin an older {name}")
        else:
            installed = ", ".join(sorted({item.version for item in interpreters}, key=Version)) or "none found"
            hint = f"{says} and no Python on this machine has it (installed: {installed}): install one (e.g. pyenv install {_minor(specifier)}), or pin an older release"
        return PythonNeed(requirement, specifier, None, False, hint)
    minor = ".".join(wanted.version.split(".")[:2])
    if declared:
        hint = f"{says}; requires-python in pyproject.toml ({request.value}) allows Python {wanted.version}, on this machine"
        return PythonNeed(requirement, specifier, wanted, True, hint)
    if request is None:
        hint = (f"{says}: Python {wanted.version} is on this machine; build with it (`WARP_PYTHON={minor} warp build`), "
                f"or declare requires-python = \"{specifier}\" in pyproject.toml and warp takes it")
    else:
        hint = f"{says}, and {request.source} asks for {request.value}: ask for {minor} there (Python {wanted.version} is on this machine)"
    return PythonNeed(requirement, specifier, wanted, False, hint)


def _minor(specifier: str) -> str:
    match = re.search(r"\d+\.\d+", specifier)
    return match.group(0) if match else "3.12"


#: How an env made again for a requirement's Python says so in its metadata (see build.run_build).
NEEDED = "the oldest Python on this machine that "


def describe_need(need: PythonNeed, request: Request) -> str:
    return f"{NEEDED}{need.requirement} allows (Python{need.specifier}, within {request.source} {request.value})"


def find_python_because(request: Request | None, meta: Mapping[str, str]) -> str:
    """Why the env has its Python, for the plan: the request it satisfies now, or what it was made from."""
    made = meta.get("python_from")
    if request is not None and not (made and made.startswith(NEEDED)):
        return f"from {request.source} ({request.value})"
    if made:
        return f"the env's Python, made with {made}"
    return f"the env's Python, the one it was made with ({meta.get('python') or '?'})"


def describe_request(request: Request | None) -> str:
    """What an env's Python is made from, as its metadata keeps it."""
    if request is None:
        return "the Python warp runs on (no --python, WARP_PYTHON, .python-version, runtime.txt or requires-python)"
    return f"{request.source} ({request.value})"

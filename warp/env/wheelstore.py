"""Wheels of the servers that compile at install (uWSGI, mod_wsgi), kept in WARP_HOME per build configuration.

A compiled wheel is only right for what it was compiled against: the Python it embeds or links to (not only
its version: two 3.11 interpreters may differ in where libpython is and how it was built), the compiler
settings, and for mod_wsgi the Apache whose apxs built it. Those facts, hashed, name the store's directory,
so a second env with the same facts installs the wheel the first one built, and any other env builds its own.
uv's cache cannot do this: it keys built wheels on the sdist and the wheel tag alone (cp311 for every 3.11),
and it builds again whenever the index answers its revalidation with "modified".

A build holds a server's wheel (hold_server_wheel: kept, or built by pip and kept) while the installer puts it
into the env, either as the server step's package or offered to the dependencies' install (hold_offered_wheels).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from warp import proc, servers
from warp.context import Context
from warp.env.inputs import scan_installed
from warp.env.venv import hold_lock
from warp.report import SHOW_AFTER, Report, working

if TYPE_CHECKING:
    from warp.plan import Installer

#: Run by the env's python: the facts of the interpreter a compiled server is built against.
_ASK_PYTHON = """
import json, os, platform, sys, sysconfig
def stamp(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]
var = sysconfig.get_config_var
base = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
library = os.path.join(var("LIBDIR") or "", var("LDLIBRARY") or "")
print(json.dumps({
    "python": base, "python_stamp": stamp(base), "version": platform.python_version(),
    "cache_tag": sys.implementation.cache_tag, "soabi": var("SOABI"), "platform": sysconfig.get_platform(),
    "include": sysconfig.get_paths()["include"], "libpython": library, "libpython_stamp": stamp(library),
    "shared": var("Py_ENABLE_SHARED"), "cc": var("CC"), "cflags": var("CFLAGS"),
}))
"""

#: Variables every C build reads; each adapter adds its own (see Adapter.build_variables).
COMPILER_VARIABLES = ("CC", "CFLAGS", "CPPFLAGS", "LDFLAGS", "LDSHARED")


def run_python_facts(python: Path, environ: Mapping[str, str], cwd: Path) -> dict:
    return proc.run_json([str(python), "-c", _ASK_PYTHON], env=environ, cwd=cwd, step="Asking the env's python how it was built")


def find_build_variables(environ: Mapping[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """The variables a build reads: the compiler's, and those starting with one of the adapter's ``prefixes``."""
    return {key: value for key, value in sorted(environ.items()) if key in COMPILER_VARIABLES or key.startswith(prefixes)}


def make_store_key(facts: Mapping) -> str:
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def find_store_dir(warp_home: Path, package: str, facts: Mapping) -> Path:
    return warp_home / "wheels" / f"{package}-{make_store_key(facts)}"


def find_distribution_file(line: str, package: str) -> tuple[str, str] | None:
    """(version, "sdist" or "wheel") when a line of pip's output names a file of ``package``, else None."""
    name = "[-_.]".join(re.escape(part) for part in re.split(r"[-_.]+", package))
    match = re.search(rf"(?<![\w.-]){name}-(\d[\w.+!]*?)(\.tar\.gz|\.zip|-[\w.]+-[\w.]+-[\w.]+\.whl)\b", line, re.IGNORECASE)
    if match is None:
        return None
    return match.group(1), "wheel" if match.group(2).endswith(".whl") else "sdist"


def find_kept_wheel(store: Path, package: str, version: str | None) -> Path | None:
    """The wheel of ``package`` at ``version`` in ``store``, if one was kept there."""
    if not version:
        return None
    name = re.sub(r"[-_.]+", "_", package).lower()
    for path in store.glob("*.whl"):
        file_name, file_version = path.name.split("-")[:2]
        if re.sub(r"[-_.]+", "_", file_name).lower() == name and file_version == version:
            return path
    return None


def write_store_facts(store: Path, facts: Mapping) -> None:
    """What the wheels in ``store`` were built against, for a person wondering which directory is which."""
    target = store / "built-against.json"
    if not target.exists():
        target.write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")


def find_requirement_name(line: str) -> str:
    """The normalized project name a requirement line starts with ("" for options, paths and URLs)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line.strip())
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else ""


@contextmanager
def hold_offered_wheels(ctx: Context, step, environ, report: Report, installer: Installer):
    """When the dependencies name a compiled server that the env lacks, its wheel (kept, or built now and kept) is
    offered to their install (``--find-links``), so the installer does not compile it again."""
    installed = scan_installed(ctx.env)
    lines = scan_requirement_lines(ctx.source, step.argv) if "pip" in installed else []
    with ExitStack() as held:
        offered: tuple[str, ...] = ()
        for adapter in servers.ADAPTERS.values():
            requirement = find_requirement_line(lines, adapter.packages[0]) if adapter.compiled_as else None
            if requirement is not None and adapter.packages[0] not in installed:
                adapter.check_build(environ)
                wheel = held.enter_context(hold_server_wheel(ctx, adapter, environ, report, installer, requirement))
                offered += ("--find-links", str(wheel.parent)) if wheel else ()
        yield offered


def scan_requirement_lines(source: Path, argv) -> list[str]:
    """The requirement lines of the files an install's ``-r`` options name, and of the files those include."""
    lines: list[str] = []
    pending = [Path(value) for option, value in zip(argv, argv[1:]) if option in ("-r", "--requirement")]
    seen: set[Path] = set()
    while pending:
        path = pending.pop()
        path = Path(os.path.normpath(path if path.is_absolute() else source / path))
        if path in seen:
            continue
        seen.add(path)
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
            words = line.split(None, 1)
            if len(words) == 2 and words[0] in ("-r", "--requirement"):
                pending.append(path.parent / words[1])
            elif line and not line.startswith("-"):
                lines.append(line)
    return lines


def find_requirement_line(lines: list[str], package: str) -> str | None:
    """The line that requires ``package`` (its options, such as --hash, left out), or None."""
    wanted = find_requirement_name(package)
    for line in lines:
        if find_requirement_name(line) == wanted:
            return re.split(r"\s--?[a-z]", line, maxsplit=1)[0].strip()
    return None


@contextmanager
def hold_server_wheel(ctx: Context, adapter: servers.Adapter, environ, report: Report, installer: Installer, requirement: str = ""):
    """The wheel of a compiled server for this env: the one kept in WARP_HOME for the env's build configuration
    (see warp.env.wheelstore) when it is of the newest version the index has, else built now and kept; None when
    the requirement does not apply here (its markers) or pip made no wheel (the installer then does as it would).

    uv finds the newest version (from the kept wheel's metadata when it is that version: no build); pip builds
    the wheel when none is kept (uv keeps no wheel file of its own), so a new release is compiled once.
    """
    package = adapter.packages[0]
    requirement = requirement or package
    python = run_python_facts(ctx.env.python, environ, ctx.source)
    facts = {
        "package": package,
        "python": python,
        "variables": find_build_variables(environ, adapter.build_variables),
        "server": adapter.scan_build_facts(environ),
    }
    store = find_store_dir(ctx.warp_home, package, facts)
    store.mkdir(parents=True, exist_ok=True)
    sources = ["--find-links", str(store)] + (["--find-links", str(installer.find_links)] if installer.find_links else [])
    sources += ["--no-index"] if installer.offline else []
    with hold_lock(store / ".lock"):  # another env building the same server waits, then reuses its wheel
        write_store_facts(store, facts)
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=store))
        try:
            with working(report, f"        {installer.name} is finding the version of {adapter.compiled_as} to install", after=SHOW_AFTER):
                version = _find_newest_version(ctx, requirement, sources, environ, installer, building)
            if version == "":
                yield None
                return
            wheel = find_kept_wheel(store, package, version)
            if wheel is None:
                wheel, compiled = _build_wheel(ctx, adapter, f"{package}=={version}" if version else requirement, sources,
                                               environ, installer, building, python["version"], report)
                if wheel is None:
                    yield None
                    return
                if compiled:
                    os.replace(wheel, store / wheel.name)
                    yield store / wheel.name
                    return
                if not (store / wheel.name).is_file():
                    yield wheel  # a wheel pip found elsewhere (a wheelhouse, the index): installed, not kept
                    return
                wheel = store / wheel.name
            report(f"        reusing the {adapter.compiled_as} {wheel.name.split('-')[1]} wheel built for Python {python['version']} ({wheel})")
            yield wheel
        finally:
            shutil.rmtree(building, ignore_errors=True)


def _find_newest_version(ctx: Context, requirement: str, sources: list[str], environ, installer: Installer, scratch: Path) -> str | None:
    """The version an install of ``requirement`` would take now, as uv resolves it ("" when it takes none here);
    None without uv (pip then decides)."""
    if installer.name != "uv" or not installer.uv:
        return None
    package = find_requirement_name(requirement)
    wanted = scratch / "server.in"
    wanted.write_text(requirement + "\n")
    text = proc.run([installer.uv, "pip", "compile", "--python", str(ctx.env.python), *sources, "--no-header", "--no-annotate",
                     "--quiet", str(wanted)], env=environ, cwd=ctx.source, step=f"Finding the version of {package} to install",
                    hint="see the installer's output above")
    for line in text.splitlines():
        name, _, version = line.strip().partition("==")
        if version and find_requirement_name(name) == find_requirement_name(package):
            return version.strip()
    return ""


#: uv's settings for the index, and pip's names for them (uv takes the same forms: URLs, space separated).
_PIP_INDEX_VARIABLES = (("UV_DEFAULT_INDEX", "PIP_INDEX_URL"), ("UV_INDEX_URL", "PIP_INDEX_URL"), ("UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL"))


def _build_wheel(ctx: Context, adapter: servers.Adapter, requirement: str, sources: list[str], environ, installer: Installer,
                 dest: Path, python_version: str, report: Report) -> tuple[Path | None, bool]:
    """pip's wheel of ``requirement`` in ``dest`` (None if it made none), and whether pip compiled it (rather than
    found a wheel); a compile is shown while it runs (report.working)."""
    package = adapter.packages[0]
    pip_environ = dict(environ)
    if installer.name == "uv":
        for uv_name, pip_name in _PIP_INDEX_VARIABLES:
            if environ.get(uv_name) and not environ.get(pip_name):
                pip_environ[pip_name] = environ[uv_name]
    pip_environ.pop("PIP_QUIET", None)  # its lines name the version it takes
    found: list[tuple[str, str]] = []
    with ExitStack() as live:

        def show(line: str) -> None:
            file = find_distribution_file(line, package)
            if file is None or found:
                return
            found.append(file)
            version, kind = file
            if kind == "sdist":
                live.enter_context(working(
                    report,
                    f"        compiling {adapter.compiled_as} {version} for Python {python_version}"
                    f" (about {adapter.compile_seconds} s, the first time)",
                    f"        compiled {adapter.compiled_as} {version} in {{seconds:.1f}} s; later envs with this Python reuse it",
                ))

        proc.run_shown([str(ctx.env.python), "-m", "pip", "--disable-pip-version-check", "wheel", "--no-deps", "--no-cache-dir",
                        *sources, "--wheel-dir", str(dest), requirement],
                       env=pip_environ, cwd=ctx.source, step=f"Building {package}", show=show, hint="see pip's output above")
    return next(dest.glob("*.whl"), None), bool(found) and found[0][1] == "sdist"

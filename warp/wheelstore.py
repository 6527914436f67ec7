"""Wheels of the servers that compile at install (uWSGI, mod_wsgi), kept in WARP_HOME per build configuration.

A compiled wheel is only right for what it was compiled against: the Python it embeds or links to (not only
its version: two 3.11 interpreters may differ in where libpython is and how it was built), the compiler
settings, and for mod_wsgi the Apache whose apxs built it. Those facts, hashed, name the store's directory,
so a second env with the same facts installs the wheel the first one built, and any other env builds its own.
uv's cache cannot do this: it keys built wheels on the sdist and the wheel tag alone (cp311 for every 3.11),
and it builds again whenever the index answers its revalidation with "modified".
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Mapping

from warp import proc

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


def hash_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


"""The build's inputs as they are on disk: the dependency files' content (with their -r/-c includes and the
content of local path requirements) and what the env holds (its distributions, and any an install left incomplete)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from warp.config.files import IGNORED_DIRS
from warp.env import venv
from warp.errors import UsageError


def scan_installed(env: venv.Env) -> dict[str, str]:
    """Distributions installed in the env: normalized name -> version."""
    installed = {}
    for site in env.path.glob("lib/python*/site-packages"):
        for info in site.glob("*.dist-info"):
            name, _, version = info.name[: -len(".dist-info")].partition("-")
            installed[re.sub(r"[-_.]+", "-", name).lower()] = version
    return installed


def scan_dist_infos(env: venv.Env) -> dict[str, int]:
    """Each installed distribution's .dist-info directory and its inode: an install that puts a distribution in,
    or in again, makes a new one."""
    found = {}
    for site in env.path.glob("lib/python*/site-packages"):
        with os.scandir(site) as entries:
            found.update((entry.path, entry.inode()) for entry in entries if entry.name.endswith(".dist-info"))
    return found


def scan_incomplete(env: venv.Env) -> dict[str, Path]:
    """Distributions that lack a file their RECORD lists, or the RECORD itself: name -> their .dist-info.

    An install cut short (a kill, a full disk) leaves them, and an installer would take them for installed.
    """
    import csv

    incomplete = {}
    for site in env.path.glob("lib/python*/site-packages"):
        for info in site.glob("*.dist-info"):
            try:
                rows = [row for row in csv.reader((info / "RECORD").read_text(errors="replace").splitlines()) if row]
            except OSError:
                rows = []
            if not rows or any("__pycache__" not in row[0] and not (site / row[0]).exists() for row in rows):
                incomplete[info.name[: -len(".dist-info")].partition("-")[0]] = info
    return incomplete


def scan_digests(root: Path, files: tuple[str, ...]) -> dict[str, str]:
    """Content hashes of dependency files, following requirements' -r/-c includes."""
    import hashlib  # OpenSSL's start-up: only for the builds that hash

    digests: dict[str, str] = {}
    pending = [(name, "") for name in files]
    while pending:
        name, named_by = pending.pop()
        if name in digests:
            continue
        path = (root / name)
        if not path.is_file():
            raise UsageError(
                f"requirements file {name} does not exist in {root}" + (f" (named by a -r/-c line of {named_by})" if named_by else ""),
                hint=f"fix {named_by}" if named_by else "fix WARP_PIP_PACKAGES or create the file",
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read requirements file {name} ({exc.strerror})", hint=f"make {path} readable, or fix WARP_PIP_PACKAGES") from None
        digests[name] = hashlib.sha256(data).hexdigest()
        for line in data.decode("utf-8", "replace").splitlines():
            match = re.match(r"\s*(?:-r|-c|--requirement|--constraint)[\s=]+(\S+)", line)
            if match:
                included = match.group(1) if Path(match.group(1)).is_absolute() else str((path.parent / match.group(1)).relative_to(root))
                pending.append((included, name))
                continue
            local = re.match(r"\s*((?:-e|--editable)[\s=]+)?(?:file:(?://)?)?((?:\.{1,2}|~)?/[^\s;#\[]*)", line)
            if local:  # a local path requirement: what is installed is its content; of an editable one, its metadata
                where = Path(local.group(2)).expanduser()
                where = where if where.is_absolute() else path.parent / where
                digests[f"{name}: {local.group(2)}"] = scan_tree_digest(where, only=PACKAGE_METADATA if local.group(1) else None)
    return digests


#: What a local package's tree holds that its install does not read (or writes itself): the directories warp never
#: reads, and the build's own output.
_NOT_PACKAGE_CONTENT = IGNORED_DIRS | {"build", "dist"}


#: What an editable install reads again when it changes (as uv keys its cache of one): its code is imported in place.
PACKAGE_METADATA = ("pyproject.toml", "setup.py", "setup.cfg")


def scan_tree_digest(top: Path, only: tuple[str, ...] | None = None) -> str:
    """A content hash of a local requirement (a file, or a directory's files by name and content; with ``only``,
    those of its top-level files alone)."""
    import hashlib

    digest = hashlib.sha256()
    if top.is_file():
        digest.update(top.read_bytes())
        return digest.hexdigest()
    if only is not None:
        for name in only:
            if (top / name).is_file():
                digest.update(name.encode() + b"\0" + hashlib.sha256((top / name).read_bytes()).digest())
        return digest.hexdigest()
    for folder, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_PACKAGE_CONTENT and not d.endswith(".egg-info"))
        for name in sorted(names):
            path = Path(folder, name)
            try:
                data = path.read_bytes()
            except OSError:
                continue
            digest.update(str(path.relative_to(top)).encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()

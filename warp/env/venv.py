"""Environment lifecycle: name, create, find, record, list, remove.

An env is a virtualenv at ``$WARP_HOME/envs/NAME``; warp keeps its own files
in ``NAME/.warp/`` (metadata, build record, lock, collected static files,
generated run files).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from warp import proc
from warp.errors import EnvError, UsageError, disk_full_as_error

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Env:
    name: str
    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def state(self) -> Path:
        """warp's own directory inside the env."""
        return self.path / ".warp"

    @property
    def static_root(self) -> Path:
        """Where collectstatic puts files when the project sets no STATIC_ROOT."""
        return self.state / "static"

    @property
    def run_dir(self) -> Path:
        """Generated files for starting servers (wrapper modules, server roots)."""
        return self.state / "run"

    @property
    def meta_path(self) -> Path:
        return self.state / "env.json"

    @property
    def record_path(self) -> Path:
        return self.state / "build.json"

    @property
    def lock_path(self) -> Path:
        return self.state / "build.lock"

    @property
    def meta_lock_path(self) -> Path:
        """Held while env.json is read, changed and written back."""
        return self.state / "env.json.lock"

    @property
    def creating_path(self) -> Path:
        """Exists (and is locked) while warp creates the env; left behind only by a creation that was killed."""
        return self.state / "creating"

    def is_half_created(self) -> bool:
        """Warp's own leftovers of a creation that never wrote the metadata: resumed, not refused."""
        return not self.path.is_symlink() and self.creating_path.is_file() and not self.meta_path.is_file()

    def exists(self) -> bool:
        return self.python.exists() and self.meta_path.is_file()

    def read_meta(self) -> dict:
        meta = _read_json(self.meta_path, f"metadata of env {self.name!r}", self.name)
        if any(not isinstance(meta.get(key) or "", str) for key in _META_TEXT):
            raise EnvError(f"metadata of env {self.name!r} is corrupt ({self.meta_path})", hint=_FIX.format(name=self.name))
        return meta

    def read_record(self) -> dict:
        """The last build record, or {} when there is none or it is unreadable."""
        return read_json_dict(self.record_path)

    def write_record(self, record: dict) -> None:
        _write_json(self.record_path, record)

    def clear_record(self) -> None:
        """Forget the last success before changing the env: an interrupted build is never a no-op, and the next
        build sees the state "building" and repairs what this one may leave half done."""
        _write_json(self.record_path, {**self.read_record(), "state": "building", "fingerprint": None})

    def update_meta(self, **changes) -> None:
        """Change some fields of env.json: another warp changing other fields at the same moment loses nothing."""
        with hold_lock(self.meta_lock_path):
            _write_json(self.meta_path, {**self.read_meta(), **changes})


def check_env_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        shown = name.encode("unicode_escape").decode("ascii")
        raise UsageError(
            f"invalid env name {shown!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)",
        )
    return name


def make_env_name(directory: Path) -> str:
    """The default env name: the source directory's name made safe."""
    name = re.sub(r"\.{2,}", ".", _UNSAFE.sub("-", directory.name)).strip("-._")[:64].strip("-._")  # ".." is refused
    return name or "app"


def find_env(home: Path, name: str) -> Env:
    return Env(check_env_name(name), home / "envs" / name)


def scan_sources(home: Path) -> dict[str, Env]:
    """Each source directory an env was made for, and that env (the first by name, when two were made for one)."""
    found: dict[str, Env] = {}
    for env in list_envs(home):
        try:
            source = env.read_meta().get("source")
        except EnvError:
            continue
        if source:
            found.setdefault(source, env)
    return found


def find_free_env(home: Path, directory: Path) -> Env:
    """A new env for ``directory``: its name made safe, or with -2, -3, ... when another directory's env has it
    (two projects called ``site``). A creation that was killed is taken up again."""
    base = make_env_name(directory)
    env = find_env(home, base)
    if env.path.is_dir() and env.meta_path.exists():
        env.read_meta()  # unreadable metadata of an env of this name: report it, do not go round it
    suffix = 2
    while env.path.exists() and not env.is_half_created():
        env = find_env(home, f"{base[:60]}-{suffix}")
        suffix += 1
    return env


#: What makes a directory a project's root, besides an env made for it: a dependency file, warp's own settings,
#: Django's manage.py, a Procfile, a Python version file (see find_project_root).
ROOT_FILES = ("manage.py", "Procfile", ".python-version", "runtime.txt")  # and warp.config.project.DEPENDENCY_FILES


def find_project_root(cwd: Path, recorded: Mapping[str, object], environ: Mapping[str, str]) -> tuple[Path, str]:
    """The project a command run in ``cwd`` is about, as git, uv and poetry find theirs: (root, why).

    The nearest of ``cwd`` and its parents that an env was made for (``recorded``: source -> env), or that holds
    one of ROOT_FILES or a .warp/ directory, within the bounds of project.scan_parents (a repository's top, the
    home directory, a mount). Nothing found: ``cwd`` itself, a new project.
    """
    from warp.config.project import DEPENDENCY_FILES, scan_parents

    for directory in scan_parents(cwd, Path(environ.get("HOME") or "/")):
        if str(directory) in recorded:
            return directory, "" if directory == cwd else f"found from {cwd}: its env was made there"
        marker = next((name for name in DEPENDENCY_FILES + ROOT_FILES if (directory / name).is_file()), None)
        if marker is None and (directory / ".warp").is_dir():
            marker = ".warp/"
        if marker:
            return directory, "" if directory == cwd else f"found from {cwd}: it holds {marker}"
    return cwd, ""


def find_default_env(home: Path, cwd: Path, environ: Mapping[str, str]) -> tuple[Env, Path, str]:
    """The env of the project ``cwd`` is in (see find_project_root), or a free name for a new one: (env, root, why)."""
    recorded = scan_sources(home)
    root, why = find_project_root(cwd, recorded, environ)
    env = recorded.get(str(root))
    return (env if env is not None else find_free_env(home, root)), root, why


def list_envs(home: Path) -> list[Env]:
    envs_dir = home / "envs"
    if not envs_dir.is_dir():
        return []
    return [Env(path.name, path) for path in sorted(envs_dir.iterdir()) if path.is_dir() and _NAME.match(path.name)]


def find_uv() -> str | None:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def create_env(env: Env, *, python: str, source: Path, offline: bool = False, python_from: str = "") -> None:
    """Create the virtualenv (seeded with pip) and its metadata.

    Offline (--offline, WARP_PIP_NO_INDEX=1), pip is seeded from the project's .warp/wheelhouse.
    """
    check_home_writable(env.path.parent.parent)
    is_other = env.path.is_symlink() or (env.path.exists() and not env.path.is_dir())  # a symlink would lead out of WARP_HOME
    if is_other or (env.path.is_dir() and not env.meta_path.is_file() and not env.is_half_created() and any(env.path.iterdir())):
        raise EnvError(
            f"{env.path} exists but is not a warp env",
            hint="move it away or choose another name (warp never deletes what it did not create)",
        )
    ensure_home(env.path.parent.parent)
    with claim_creation(env):
        if not env.meta_path.is_file():  # else another warp created it while this one waited
            _create(env, python=python, source=source, offline=offline, python_from=python_from)


@contextmanager
def claim_creation(env: Env):
    """Hold the env's creation marker: another warp creating the same env is waited for, and what a killed
    creation left behind is cleared (it is warp's: the marker says so)."""
    env.state.mkdir(parents=True, exist_ok=True)
    with hold_lock(env.creating_path):
        if not env.meta_path.is_file():
            leftovers = [child for child in env.path.iterdir() if child != env.state]
            for child in leftovers + [child for child in env.state.iterdir() if child != env.creating_path]:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        yield
    if env.meta_path.is_file():
        env.creating_path.unlink(missing_ok=True)


@contextmanager
def hold_lock(path: Path, waiting: Callable[[], None] | None = None):
    """An exclusive lock on ``path`` (created if need be): another warp holding it is waited for, once ``waiting``
    has said so (or raised instead)."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


#: Run by a new env's python: its version and the interpreter it was made from.
_ASK_VERSION = "import json, sys; print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3], 'base': sys._base_executable}))"


def _create(env: Env, *, python: str, source: Path, offline: bool, python_from: str = "") -> None:
    """The virtualenv itself, then the metadata that makes it an env (written last: its absence means unfinished)."""
    uv = find_uv()
    if uv:
        argv = [uv, "venv", "--quiet", "--seed", "--allow-existing", "--python", python, str(env.path)]
        wheelhouse = source / ".warp" / "wheelhouse"
        if offline:
            argv += ["--no-index"] + (["--find-links", str(wheelhouse)] if wheelhouse.is_dir() else [])
        environ = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    else:
        argv = [sys.executable, "-m", "virtualenv", "--quiet", "-p", python, str(env.path)]
        environ = dict(os.environ)
    try:
        proc.run(argv, env=environ, cwd=source, step=f"Creating env {env.name}")
        drop_world_write(env)
        answer = proc.run_json(
            [str(env.python), "-c", _ASK_VERSION], env=os.environ, cwd=source, step=f"the python of env {env.name!r}",
            hint=f"{python} does not run inside a virtualenv (its output is above); choose another interpreter with --python",
        )
        env.state.mkdir(exist_ok=True)
        _write_json(
            env.meta_path,
            {
                "name": env.name,
                "source": str(source),
                "python": answer.get("base") or python,
                "python_version": answer.get("version"),
                # What the Python was chosen from (--python, WARP_PYTHON, a project file...): the plan says it later.
                **({"python_from": python_from} if python_from else {}),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "last_build": None,
            },
        )
    except BaseException:
        shutil.rmtree(env.path, ignore_errors=True)
        raise


def drop_world_write(env: Env) -> None:
    """uv creates the env's .lock mode 0666 whatever the umask (so other users may lock it); warp's envs are not shared."""
    lock = env.path / ".lock"
    try:
        mode = lock.lstat().st_mode
    except FileNotFoundError:
        return
    if mode & 0o002 and not os.path.islink(lock):
        os.chmod(lock, mode & 0o7775)


def remove_env(env: Env) -> None:
    shutil.rmtree(env.path)


def recreate_env(env: Env, *, python: str, source: Path, offline: bool, python_from: str) -> None:
    """The env made again with another Python: what it held, its build record too, goes."""
    remove_env(env)
    create_env(env, python=python, source=source, offline=offline, python_from=python_from)


def ensure_home(home: Path) -> None:
    """Create WARP_HOME private (0700) when warp creates it; one that exists keeps the mode its owner chose.

    (Apache's unprivileged user must read an env when mod_wsgi runs as root: such a WARP_HOME is made
    world-readable by its owner, and `warp start` names any file that user cannot read.)
    """
    if not home.exists():
        home.parent.mkdir(parents=True, exist_ok=True)
        home.mkdir(mode=0o700, exist_ok=True)
        os.chmod(home, 0o700)
    (home / "envs").mkdir(exist_ok=True)


def check_home_writable(home: Path) -> None:
    if home.exists() and not home.is_dir():
        raise EnvError(f"WARP_HOME {home} is not a directory", hint="set WARP_HOME to a directory, e.g. export WARP_HOME=~/.warp")
    probe = home
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise EnvError(
            f"WARP_HOME {home} is not writable",
            hint="set WARP_HOME to a directory you can write to, e.g. export WARP_HOME=~/.warp",
        )


#: Fields of env.json that are text (or absent): anything else there is damage, reported like unreadable JSON.
_META_TEXT = ("name", "source", "python", "python_version", "python_from", "created", "last_build")
_FIX = "destroy and recreate the env: warp destroy {name} --yes && warp build"


def _read_json(path: Path, what: str, name: str) -> dict:
    fix = _FIX.format(name=name)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise EnvError(f"{what} is missing ({path})", hint=fix) from None
    except (OSError, ValueError):
        raise EnvError(f"{what} is unreadable ({path})", hint=fix) from None
    if not isinstance(data, dict):
        raise EnvError(f"{what} is corrupt ({path})", hint=fix)
    return data


def read_json_dict(path: Path) -> dict:
    """A JSON object warp keeps for itself, or {} when there is none or it is unreadable: it is made again."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    """Replace ``path`` whole, through a temporary file of this write's own: a reader sees the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with disk_full_as_error(writing=path), open(tmp, "x") as handle:
            handle.write(json.dumps(data, indent=2, sort_keys=True))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

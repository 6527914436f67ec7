"""`warp start` as it was last time: the same command replayed when nothing it was made from has changed.

A start reads the project, the env, the settings and what warp learned of the app, then execs the server. Most
starts find all of it as the previous start left it. So a start that execs its server (gunicorn, Waitress, the
ASGI servers) keeps a record of what it ran, under ``$WARP_HOME/starts/``, with a digest of what it read: its
arguments, directory and environment, every file of the project (name, size, mtime, mode, ctime), the env (its metadata,
build record, installed packages and Python), which env is this directory's (each env's recorded project), warp
itself and the machine's facts. The next `warp start` with the same arguments computes that digest before it
imports click or plans anything; when it matches, and the generated files the command uses are as written, it
claims the port and waits for no build exactly as a full start does, prints the same lines, and execs.
Anything else, and any doubt, is the full start.

The record holds no secret: the variables a start read from ``.warp/environment`` are read from it again,
and of the server's environment only what warp itself set is kept.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from warp import __version__
from warp.learned import read_stamp, scan_files, write_stamp

#: The record's layout; a record of another layout is not replayed.
FORMAT = 1
WARP_DIR = Path(__file__).resolve().parent
#: What a replayed start prints again. A start that printed anything else (a hook ran, it waited for a build,
#: it asked the app) is not recorded; the next one, finding all of that done, is.
REPLAYED = (" -----> Using env ", "warning: ", " -----> Listening on all interfaces", " -----> Starting ")


def record_path(environ: Mapping[str, str], cwd: str, argv: Sequence[str]) -> Path:
    from warp.settings import find_warp_home

    digest = hashlib.sha256(json.dumps([cwd, list(argv)]).encode()).hexdigest()[:32]
    return find_warp_home(environ) / "starts" / f"{digest}.json"


def make_key(argv: Sequence[str], cwd: str, environ: Mapping[str, str], watch: Mapping[str, str | list]) -> str:
    """A digest of everything a start read before it ran its server (see the module's docstring)."""
    from warp.machine import scan_machine

    env, home = Path(watch["env"]), Path(watch["home"])
    umask = os.umask(0o022)
    os.umask(umask)
    inputs = {
        "start": [list(argv), cwd, sorted(environ.items()), os.geteuid(), os.getegid(), umask | 0o002],  # as warp sets it
        "warp": [__version__, str(WARP_DIR), scan_files(WARP_DIR, exact=True)],
        "project": [watch["source"], scan_files(Path(watch["source"]), tuple(Path(p) for p in watch["skip"]), exact=True)],
        "env": [
            _stat(env / ".warp" / "env.json"), _stat(env / ".warp" / "build.json"), _stat(env / "bin" / "python", follow=False),
            _stat(env / "bin" / "python"), *(_stat(site) for site in sorted(env.glob("lib/python*/site-packages"))),
        ],
        "envs": [str(path) for path in sorted(home.glob("envs/*/.warp/env.json")) if _source_of(path) == watch["source"]],
        "machine": repr(scan_machine(environ)),
    }
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


def _source_of(meta: Path) -> str | None:
    """The project an env was made for: which env is this directory's (venv.find_env_for_source) reads only that."""
    saved = read_stamp(meta)
    return saved.get("source") if saved else None


def _stat(path: Path, follow: bool = True) -> list | None:
    try:
        info = os.stat(path, follow_symlinks=follow)
    except OSError:
        return None
    return [info.st_mode, info.st_size, info.st_mtime_ns]


def file_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def server_environ(record: Mapping, environ: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: this one, with what warp set and unset, and ``.warp/environment`` read again."""
    result = {key: value for key, value in environ.items() if key not in record["unset"]}
    result.update(record["set"])
    if record["masked"]:
        from warp.project import scan_environment_file

        values = dict(scan_environment_file(Path(record["watch"]["source"]) / ".warp" / "environment"))
        result.update((key, values[key]) for key in record["masked"])
    return result


def replay(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """Run the recorded start when nothing it read has changed; return when it cannot (the full start follows)."""
    from warp.errors import WarpError

    try:
        cwd = os.getcwd()
        path = record_path(environ, cwd, argv)
        record = read_stamp(path)
        if not record or record.get("format") != FORMAT:
            return
        build_lock = hold_idle_build(record["lock"])  # before the digest: no build may end between the two
    except (OSError, ValueError, LookupError, TypeError, AttributeError, WarpError):  # BlockingIOError: the full start waits, and says so
        return
    port_lock = None
    try:
        if make_key(argv, cwd, environ, record["watch"]) != record["key"]:
            raise LookupError("changed")
        if any(file_digest(file) != digest for file, digest in record["files"].items()):
            raise LookupError("changed")
        env = server_environ(record, environ)
        if record["port"]:
            from warp import checks

            runtime_base, host, port = record["port"]
            port_lock = checks.claim_port(Path(runtime_base), host, port)  # in use: the full start says so
    except (OSError, ValueError, LookupError, TypeError, AttributeError, WarpError):
        if build_lock is not None:
            build_lock.close()
        return
    os.umask(os.umask(0o022) | 0o002)  # as warp.cli.main
    for line in record["lines"]:
        print(line, file=sys.stderr, flush=True)
    if record["stop"]["kind"] != "exec":
        sys.exit(run_supervised(record, env, build_lock))  # warp keeps the port's lock while its child runs
    if build_lock is not None:
        build_lock.close()
    try:
        os.chdir(record["cwd"])
        os.execvpe(record["argv"][0], record["argv"], env)
    except OSError:  # the full start, from where it was asked, says why; and records again if it gets as far
        os.chdir(cwd)
        path.unlink(missing_ok=True)
        if port_lock is not None:
            os.close(port_lock)


def hold_idle_build(path: str):
    """A shared hold on the env's build lock, as checks.hold_finished_build takes it, but never waiting (BlockingIOError)."""
    try:
        handle = open(path)
    except FileNotFoundError:  # no build ever ran here
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise
    return handle


@dataclass(frozen=True)
class Supervised:
    """What warp.supervise reads of a StartPlan, as recorded."""

    mode: str
    server: str
    host: str
    port: int
    argv: tuple[str, ...]
    environ: dict[str, str]
    cwd: Path
    stop: object
    failure_marker: Path | None


def run_supervised(record: Mapping, env: dict[str, str], build_lock) -> int:
    """Run the recorded server as warp's child, as warp.start.run_server does (warp.supervise)."""
    from warp import supervise
    from warp.errors import WarpError
    from warp.servers.base import Stop

    stop = record["stop"]
    plan = Supervised(
        record["mode"], record["server"], record["host"], record["port"], tuple(record["argv"]), env, Path(record["cwd"]),
        Stop(**{**stop, "path": Path(stop["path"]) if stop["path"] else None}),
        Path(record["failure_marker"]) if record["failure_marker"] else None,
    )
    try:
        return supervise.supervise(plan, lambda line: print(line, file=sys.stderr, flush=True), started=build_lock.close if build_lock else lambda: None)
    except WarpError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code


class Recorder:
    """Taken before a start plans (the digest of what it is about to read) and kept after it prepared."""

    def __init__(self, ctx, argv: Sequence[str]) -> None:
        record = ctx.env.read_record()
        skip = [str(ctx.env.path)] + ([record["static_root"]] if record.get("static_root") else [])
        self.watch = {"source": str(ctx.source), "skip": skip, "env": str(ctx.env.path), "home": str(ctx.warp_home)}
        self.argv, self.cwd, self.environ = list(argv), os.getcwd(), dict(ctx.environ)
        self.key = make_key(self.argv, self.cwd, self.environ, self.watch)
        self.path = record_path(self.environ, self.cwd, self.argv)

    def keep(self, ctx, plan, lines: Sequence[str], port_claim: tuple | None) -> None:
        """Record ``plan`` when replaying it would do what this start did; else remove an older record."""
        masked = sorted(key for key in plan.masked if key in plan.environ)
        record = {
            "format": FORMAT,
            "key": self.key,
            "watch": self.watch,
            "lines": list(lines),
            "argv": list(plan.argv),
            "cwd": str(plan.cwd),
            "set": {k: v for k, v in plan.environ.items() if k not in masked and self.environ.get(k) != v},
            "unset": sorted(set(self.environ) - set(plan.environ)),
            "masked": masked,
            "files": {str(path): hashlib.sha256(content.encode()).hexdigest() for path, content in plan.files.items()},
            "lock": str(ctx.env.lock_path),
            "port": list(port_claim) if port_claim else None,
            "mode": plan.mode, "server": plan.server, "host": plan.host,
            "stop": {**dataclasses.asdict(plan.stop), "path": str(plan.stop.path) if plan.stop.path else None},
            "failure_marker": str(plan.failure_marker) if plan.failure_marker else None,
        }
        replayable = (
            plan.mode not in ("shell", "python")  # app.sh and app.py: warp tells why one exits early, from the project
            and not plan.prepare  # mod_wsgi's setup-server: warp.start.run_prepare knows when to run it again
            and not plan.socket  # its directory is made ready by the full start
            and all(line.startswith(REPLAYED) for line in lines)
            and make_key(self.argv, self.cwd, self.environ, self.watch) == self.key  # nothing changed while it ran
            and _rebuilds(record, self.environ, plan.environ)
        )
        if replayable:
            write_stamp(self.path, record, mode=0o600)
        else:
            self.path.unlink(missing_ok=True)


def _rebuilds(record: Mapping, environ: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    from warp.errors import UsageError

    try:
        return server_environ(record, environ) == dict(wanted)
    except (OSError, LookupError, UsageError):
        return False


"""`warp start` as it was last time: the same command replayed when nothing it was made from has changed.

A start reads the project, the env, the settings and what warp learned of the app, then runs the server. Most
starts find all of it as the previous start left it. So a start keeps a record of what it ran, under
``$WARP_HOME/starts/``, with a digest of what it read: its arguments, directory and environment, every file of
the project (name, size, mtime, mode, ctime), the env (its metadata, build record, installed packages and
Python), which env is this directory's (each env's recorded project), warp itself and the machine's facts; for
mod_wsgi also the files setup-server wrote, which decide whether it must run again (warp.start.run_prepare).
The next `warp start` with the same arguments computes that digest before it imports click or plans anything;
when it matches, and the generated files the command uses are as written, it claims the port and waits for no
build exactly as a full start does, prints the same lines, and execs the server, or for uWSGI and mod_wsgi's
Apache stays its parent with the same graceful stop (warp.parent). Anything else, and any doubt, is the full
start.

A replay imports only modules that import nothing heavy themselves (warp.files, warp.machine, warp.checks,
warp.errors; warp.parent and warp.proc for a server it stays the parent of): about a third of a full start's
CPU time before the server.

The record holds no secret: the variables a start read from ``.warp/environment`` are read from it again,
and of the server's environment only what warp itself set is kept.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys

from warp import __version__
from warp.files import scan_files
from warp.machine import scan_machine

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time: a replay imports only the modules above, each of them lean
    from typing import Mapping, Sequence

#: The record's layout; a record of another layout is not replayed.
FORMAT = 2
WARP_DIR = os.path.dirname(os.path.realpath(__file__))
#: What a replayed start prints again. A start that printed anything else (a hook ran, it waited for a build,
#: it asked the app) is not recorded; the next one, finding all of that done, is.
REPLAYED = (" -----> Using env ", "warning: ", " -----> Listening on all interfaces", " -----> Running as root: ", " -----> Starting ")


def find_home(environ: Mapping[str, str]) -> str:
    """$WARP_HOME as warp.settings.find_warp_home finds it."""
    home = environ.get("WARP_HOME", "").strip()
    return os.path.abspath(os.path.expanduser(home)) if home else os.path.expanduser("~/.warp")


def record_path(environ: Mapping[str, str], cwd: str, argv: Sequence[str], kind: str = "starts") -> str:
    """Where the command ``argv`` in ``cwd`` is recorded: under $WARP_HOME/``kind`` (starts; warp.recall: said)."""
    digest = hashlib.sha256(repr([cwd, list(argv)]).encode()).hexdigest()[:32]
    return os.path.join(find_home(environ), kind, digest)


def make_key(argv: Sequence[str], cwd: str, environ: Mapping[str, str], watch: Mapping | None, envs: Mapping | list) -> str:
    """A digest of everything a start read before it ran its server (see the module's docstring).

    Without ``watch`` (warp.recall: `warp activate`, `warp list`), no project: ``envs`` as scan_every_env found them.
    """
    umask = os.umask(0o022)
    os.umask(umask)
    inputs = [
        (list(argv), cwd, sorted(environ.items()), os.geteuid(), os.getegid(), umask | 0o002),  # as warp sets it
        (__version__, WARP_DIR, scan_files(WARP_DIR, exact=True)),
    ]
    if watch is None:
        inputs.append(envs)
    else:
        env = watch["env"]
        inputs += [
            (watch["source"], scan_files(watch["source"], watch["skip"], exact=True)),
            [_stat(os.path.join(env, ".warp", name)) for name in ("env.json", "build.json")],
            (_stat(os.path.join(env, "bin", "python"), follow=False), _stat(os.path.join(env, "bin", "python"))),
            [_stat(site) for site in _site_packages(env)],
            sorted(meta for meta, (_, source) in envs.items() if source == watch["source"]),
            tuple(scan_machine(environ)),
        ]
    return hashlib.sha256(repr(inputs).encode()).hexdigest()


def scan_envs(home: str, known: Mapping[str, list]) -> dict[str, list]:
    """Each env's metadata file with its stat and the project it was made for: which env is this directory's
    (venv.find_env_for_source) reads only that. An unchanged file's project is taken from ``known``."""
    found = {}
    base = os.path.join(home, "envs")
    try:
        names = sorted(name for name in os.listdir(base) if not name.startswith("."))
    except OSError:
        return found
    for name in names:
        meta = os.path.join(base, name, ".warp", "env.json")
        seen = _stat(meta)
        if seen is not None:
            old = known.get(meta)
            found[meta] = [seen, old[1] if old and old[0] == seen else _source_of(meta)]
    return found


def _source_of(meta: str) -> str | None:
    import json  # only for an env made or rebuilt since the record: a replay otherwise reads no JSON

    try:
        with open(meta) as handle:
            saved = json.load(handle)
    except (OSError, ValueError):
        return None
    return saved.get("source") if isinstance(saved, dict) else None


def scan_every_env(home: str, envs: Mapping[str, list]) -> list:
    """Every env as `warp list` and `warp activate` see it (warp.venv.list_envs, Env.exists): the envs directory
    (an env added or removed), each env's metadata and project (``envs``, from scan_envs) and its python."""
    python = [_stat(os.path.join(os.path.dirname(os.path.dirname(meta)), "bin", "python")) for meta in sorted(envs)]
    return [_stat(os.path.join(home, "envs")), sorted(envs.items()), python]


def _site_packages(env: str) -> list[str]:
    lib = os.path.join(env, "lib")
    try:
        return [os.path.join(lib, name, "site-packages") for name in sorted(os.listdir(lib)) if name.startswith("python")]
    except OSError:
        return []


def _stat(path: str, follow: bool = True) -> list | None:
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
        from warp.envfile import scan_environment_file

        values = dict(scan_environment_file(os.path.join(record["watch"]["source"], ".warp", "environment")))
        result.update((key, values[key]) for key in record["masked"])
    return result


def read_record(path: str, layout: int = FORMAT) -> dict | None:
    """The record at ``path`` when it is one of ``layout`` (this module's FORMAT; warp.recall's), else None."""
    try:
        with open(path, "rb") as handle:
            record = marshal.load(handle)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return record if isinstance(record, dict) and record.get("format") == layout else None


def forget(path: str) -> None:
    """Remove the record at ``path``, if there is one."""
    try:
        os.unlink(path)
    except OSError:
        pass


#: What a record that is not as this module wrote it raises while it is replayed: a full start follows.
UNREADABLE = (OSError, ValueError, LookupError, TypeError, AttributeError)


def replay(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """Run the recorded start when nothing it read has changed; return when it cannot (the full start follows)."""
    try:
        cwd = os.getcwd()
        path = record_path(environ, cwd, argv)
        record = read_record(path)
        if record is None:
            return
        from warp import checks

        build_lock = checks.hold_finished_build(record["lock"])  # before the digest: no build may end between the two
    except UNREADABLE:  # BlockingIOError: the full start waits, and says so
        return
    port_lock = None
    try:
        envs = scan_envs(record["watch"]["home"], record["envs"])
        if make_key(argv, cwd, environ, record["watch"], envs) != record["key"]:
            raise LookupError("changed")
        if any(file_digest(file) != digest for file, digest in record["files"].items()):
            raise LookupError("changed")
        if any(_stat(file) != seen for file, seen in record["prepared"].items()):
            raise LookupError("changed")
        env = server_environ(record, environ)
        if record["claim"]:
            from warp.errors import WarpError

            runtime_base, host, port = record["claim"]
            try:
                port_lock = checks.claim_port(runtime_base, host, port)
            except WarpError:  # in use: the full start says so
                raise LookupError("port") from None
    except UNREADABLE:
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
        forget(path)
        if port_lock is not None:
            os.close(port_lock)


def run_supervised(record: Mapping, env: dict[str, str], build_lock) -> int:
    """Run the recorded server as warp's child with the recorded graceful stop, as warp.start.run_server does."""
    from types import SimpleNamespace

    from warp import parent
    from warp.errors import WarpError

    fields = ("mode", "server", "host", "port", "argv", "cwd", "failure_marker")
    plan = SimpleNamespace(**{name: record[name] for name in fields}, environ=env, stop=SimpleNamespace(**record["stop"]))
    try:
        return parent.supervise(plan, lambda line: print(line, file=sys.stderr, flush=True), started=build_lock.close if build_lock else lambda: None)
    except WarpError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code


def watch_of(ctx) -> dict:
    """What of ``ctx`` a digest reads again: the project's directory but the env's and collected static files."""
    record = ctx.env.read_record()
    skip = [str(ctx.env.path)] + ([record["static_root"]] if record.get("static_root") else [])
    return {"source": str(ctx.source), "skip": skip, "env": str(ctx.env.path), "home": str(ctx.warp_home)}


class Recorder:
    """Taken before a start plans (the digest of what it is about to read) and kept after it prepared."""

    def __init__(self, ctx, argv: Sequence[str]) -> None:
        self.watch = watch_of(ctx)
        self.argv, self.cwd, self.environ = list(argv), os.getcwd(), dict(ctx.environ)
        self.envs = scan_envs(self.watch["home"], {})
        self.key = make_key(self.argv, self.cwd, self.environ, self.watch, self.envs)
        self.path = record_path(self.environ, self.cwd, self.argv)

    def keep(self, ctx, plan, lines: Sequence[str], port_claim: tuple | None) -> None:
        """Record ``plan`` when replaying it would do what this start did; else remove an older record."""
        import dataclasses

        from warp.learned import write_atomic

        masked = sorted(key for key in plan.masked if key in plan.environ)
        record = {
            "format": FORMAT,
            "key": self.key,
            "watch": self.watch,
            "envs": self.envs,
            "lines": list(lines),
            "argv": list(plan.argv),
            "cwd": str(plan.cwd),
            "set": {k: v for k, v in plan.environ.items() if k not in masked and self.environ.get(k) != v},
            "unset": sorted(set(self.environ) - set(plan.environ)),
            "masked": masked,
            "files": {str(path): hashlib.sha256(content.encode()).hexdigest() for path, content in plan.files.items()},
            "prepared": scan_prepared(plan),
            "lock": str(ctx.env.lock_path),
            "claim": [str(port_claim[0]), *port_claim[1:]] if port_claim else None,
            "mode": plan.mode, "server": plan.server, "host": plan.host, "port": plan.port,
            "stop": {**dataclasses.asdict(plan.stop), "path": str(plan.stop.path) if plan.stop.path else None},
            "failure_marker": str(plan.failure_marker) if plan.failure_marker else None,
        }
        replayable = (
            plan.mode not in ("shell", "python")  # app.sh and app.py: warp tells why one exits early, from the project
            and (record["prepared"] or not plan.prepare)  # else warp.start.run_prepare runs the set-up at every start
            and not plan.socket  # its directory is made ready by the full start
            and all(line.startswith(REPLAYED) for line in lines)
            and make_key(self.argv, self.cwd, self.environ, self.watch, scan_envs(self.watch["home"], self.envs)) == self.key  # nothing changed while it ran
            and _rebuilds(record, self.environ, plan.environ)
        )
        if replayable:
            write_atomic(self.path, marshal.dumps(record), mode=0o600)
        else:
            forget(self.path)


def scan_prepared(plan) -> dict[str, list | None]:
    """What decides that mod_wsgi's set-up need not run again (warp.start.run_prepare): its programs, its record
    and the files it wrote, as they are now; empty when the set-up would run at every start."""
    from warp.learned import read_stamp
    from warp.start import PREPARED

    if not plan.prepare or plan.server_root is None:
        return {}
    stamp = plan.server_root / PREPARED
    written = (read_stamp(stamp) or {}).get("files")
    if not written:
        return {}
    paths = [argv[0] for argv in plan.prepare] + [str(stamp)] + [str(plan.server_root / name) for name in written]
    return {path: _stat(path) for path in paths}


def _rebuilds(record: Mapping, environ: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    from warp.errors import UsageError

    try:
        return server_environ(record, environ) == dict(wanted)
    except (OSError, LookupError, UsageError):
        return False

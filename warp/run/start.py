"""`warp start`: gather the facts a StartPlan needs, make everything ready, then exec the server or run it as warp's
child (warp.run.parent)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Iterator, Mapping

from warp import __version__, proc, servers
from warp.config.project import find_assigned_name, scan_paste_server
from warp.context import Context
from warp.env.venv import read_json_dict
from warp.errors import EnvError, disk_full_as_error
from warp.hookdir import HOOKS_DIR
from warp.plan import StartFacts, StartPlan, plan_start
from warp.report import Report
from warp.run import action_hooks, claims


class RunUsers(Mapping[str, "tuple[str, str] | None"]):
    """Per server, the (user, group) it switches to under this user, looked up when the planner asks for the server it
    chose: the others' accounts are no concern of this start (Apache's is needed only when mod_wsgi runs)."""

    def __init__(self, environ: Mapping[str, str], euid: int) -> None:
        self.environ, self.euid = environ, euid

    def __getitem__(self, name: str) -> tuple[str, str] | None:
        return servers.ADAPTERS[name].find_run_user(self.environ, self.euid)

    def __iter__(self) -> Iterator[str]:
        return iter(servers.NAMES)

    def __len__(self) -> int:
        return len(servers.NAMES)


def scan_start_facts(ctx: Context, *, listen_fd: int | None = None, local_socket: bool = False, django: dict | None = None) -> StartFacts:
    """What a start plan is made from, read once: the project, settings, env, build record and machine. The app is
    not asked: the server's own process loads it (hooks/loader.py)."""
    named = ctx.settings["app"].value
    ini = ctx.app.home / named if named and named.endswith(".ini") else ctx.app.home / ctx.app.paste_file if ctx.app.paste_file else None
    return StartFacts(
        settings=ctx.settings, project=ctx.project, app=ctx.app, machine=ctx.machine, app_environ=ctx.app_environ(),
        masked=ctx.masked, env_name=ctx.env.name, env_path=ctx.env.path, env_static_root=ctx.env.static_root,
        runtime_dir=find_runtime_dir(ctx), hooks_dir=HOOKS_DIR, installed=ctx.installed(), record=ctx.env.read_record(),
        run_users=RunUsers(ctx.environ, ctx.machine.euid),
        socket_owner=claims.find_socket_owner(ctx.machine.euid),
        paste_server=scan_paste_server(ini) if ini is not None else None,  # a missing ini is an error before any server starts
        listen_fd=listen_fd, local_socket=local_socket, django=django,
    )


def scan_start_plan(ctx: Context, **facts) -> StartPlan:
    """The StartPlan of this context (``facts``: see scan_start_facts)."""
    return plan_start(scan_start_facts(ctx, **facts))


def find_runtime_dir(ctx: Context) -> Path:
    return claims.find_runtime_dir(ctx.env.path, Path(tempfile.gettempdir()), os.geteuid())


@dataclasses.dataclass
class Prepared:
    """What a prepared start holds until its server runs: the build lock (shared) and the port's lock."""

    build_lock: object = None
    port_lock: int | None = None

    def server_started(self) -> None:
        """A build may run from now on."""
        if self.build_lock is not None:
            self.build_lock.close()
            self.build_lock = None


def prepare(ctx: Context, plan: StartPlan, report: Report) -> Prepared:
    """Everything before the server starts: the finished build, hooks, checks, generated files."""
    held = Prepared(build_lock=claims.hold_finished_build(ctx.env.lock_path, lambda: report(f" -----> Waiting for the build of env {ctx.env.name} to finish")))
    record = ctx.env.read_record()
    if not record.get("state") == "ok":
        raise EnvError(f"env {ctx.env.name!r} has no successful build", hint="run `warp build` first")
    adapter = plan.adapter
    if adapter is not None:
        adapter.check_start(plan, [Path(os.path.realpath(ctx.env.python)), ctx.env.path, ctx.source, ctx.app.home], report)
        check_server_installed(ctx, plan)
        if plan.server_root is not None:
            claims.ensure_runtime_dir(plan.server_root.parent)
    action_hooks.run_start_hooks(ctx, plan.environ, report)
    if plan.socket:
        claims.ensure_socket_dir(plan.socket, report)
    elif not ctx.settings["reload"].value:  # --reload binds the port itself and keeps it
        held.port_lock = claims.claim_port(find_runtime_dir(ctx).parent, plan.host, plan.port)
    else:
        claims.bind_socket(plan.host, plan.port).close()
    if plan.import_marker is not None:  # the app's first import, in the server, says whether it loads
        plan.import_marker.unlink(missing_ok=True)
    write_plan_files(ctx, plan)
    run_prepare(ctx, plan)
    return held


#: In the server root: what the set-up commands were and the files they wrote (see run_prepare).
PREPARED = "warp-prepared.json"
#: Files' mtimes come from the kernel's coarse clock, which may lag time.time_ns() by a tick.
PREPARE_CLOCK_SLACK = 100_000_000


def run_prepare(ctx: Context, plan: StartPlan) -> None:
    """The server's set-up commands (mod_wsgi-express setup-server), skipped when the same commands in the same
    environment, after the same build, wrote the server root and its files are as they left them: most starts."""
    if not plan.prepare:
        return
    stamp = plan.server_root / PREPARED if plan.server_root is not None else None
    key = scan_prepare_key(ctx, plan)
    if stamp is not None:
        saved = read_json_dict(stamp)
        if saved.get("key") == key and saved.get("files") and scan_written(plan.server_root, saved["files"]) == saved["files"]:
            return
    started = time.time_ns() - PREPARE_CLOCK_SLACK
    for argv in plan.prepare:
        proc.run(argv, env=plan.environ, cwd=plan.cwd, step=f"Preparing {plan.server}")
    if stamp is not None:  # what the commands wrote; not what a running server keeps there (httpd.pid under --reload)
        written = {name: seen for name, seen in scan_written(plan.server_root).items() if seen[1] >= started}
        write_stamp(stamp, {"key": key, "files": written})


def scan_prepare_key(ctx: Context, plan: StartPlan) -> str:
    """A digest of what the set-up commands read: themselves, their environment (which may hold secrets, hence
    the digest) and directory, each command's program by its content, and what the build installed (the record's
    fingerprint and installed set; not when it ran, which a build with nothing to do rewrites)."""
    record = ctx.env.read_record()
    inputs = {
        "prepare": [list(argv) for argv in plan.prepare],
        "environ": dict(sorted(plan.environ.items())),
        "cwd": str(plan.cwd),
        "contents": [_hash_file(Path(argv[0])) for argv in plan.prepare],
        "build": [record.get("fingerprint"), record.get("installed")],
        "warp": __version__,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _hash_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def write_stamp(path: Path, value: dict) -> None:
    """Only a shortcut for the next start: a failure to write it is not one."""
    try:
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(value))
        os.replace(temporary, path)
    except OSError:
        pass


def scan_written(root: Path, names=None) -> dict[str, list[int]]:
    """name -> [size, mtime] of the regular files directly in ``root`` (or of ``names``, missing ones left out)."""
    found = {}
    if names is None:
        try:
            names = sorted(os.listdir(root))
        except OSError:
            return found
    for name in names:
        try:
            st = os.stat(root / name)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and name != PREPARED:
            found[name] = [st.st_size, st.st_mtime_ns]
    return found


def check_server_installed(ctx: Context, plan: StartPlan) -> None:
    if plan.adapter is not None and plan.adapter.packages[0] not in ctx.installed():
        raise EnvError(
            f"{plan.server} is not installed in env {ctx.env.name!r}",
            hint=f"run `warp build --server {plan.server}`",
        )


def write_plan_files(ctx: Context, plan: StartPlan) -> None:
    ctx.env.run_dir.mkdir(parents=True, exist_ok=True)
    for path, content in plan.files.items():
        with disk_full_as_error(writing=path):
            path.write_text(content)


def run_server(plan: StartPlan, held: Prepared, report: Report) -> int:
    """Exec the server, or run it as warp's child (parent.run) when its own SIGTERM is not a graceful stop (or it may
    exit before listening)."""
    if plan.stop.kind == "exec":
        held.server_started()
        proc.exec_(plan.argv, env=plan.environ, cwd=plan.cwd)
    from warp.run import parent  # not on the way to an exec

    early_exit = (lambda code: describe_early_exit(plan, code)) if plan.mode in ("shell", "python") else None
    return parent.run(plan, report, started=held.server_started, why_exited=early_exit)


def describe_early_exit(plan: StartPlan, code: int) -> str:
    """Why app.py/app.sh ended before it listened, and what to run instead when app.py is a WSGI module."""
    from warp.run import parent

    name = Path(plan.argv[-1]).name
    message = f"{name} exited (code {parent.exit_code(code)}) before anything listened on port {plan.port}"
    if plan.mode == "python":
        callable_ = find_module_callable(plan.cwd / "app.py")
        if callable_:
            message += f"; it defines {callable_!r}: to serve it with a production server, run `warp start --app app:{callable_}`"
    return message


def find_module_callable(path: Path) -> str | None:
    """The name of the app a module assigns at its top level (``application`` or ``app``), read, never imported."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    return find_assigned_name(text, ("application", "app"))

"""Carry out a StartPlan: lifecycle hooks, checks, then exec or supervise the server."""

from __future__ import annotations

import errno
import hashlib
import tempfile
import grp
import os
import pwd
import signal
import socket
import stat
import time
from pathlib import Path

from warp import proc, servers
from warp.build import HOOKS_DIR
from warp.context import Context, Report, scan_installed
from warp.errors import EnvError, StepFailed, UsageError
from warp.plan import StartPlan, find_mode, find_server, make_django_target, make_start_plan

APACHE_USERS = ("www-data", "apache", "daemon", "nobody")


def make_plan(ctx: Context, *, reload: bool = False) -> StartPlan:
    mode = find_mode(ctx.app, ctx.settings)
    installed = scan_installed(ctx.env)
    server, server_because = find_server(ctx.settings, ctx.project, installed, ctx.env.read_record().get("server"))
    if mode.name == "django":
        answers = proc.run_json(
            (str(ctx.env.python), str(HOOKS_DIR / "django_info.py")),
            env=ctx.app_environ(),
            cwd=ctx.app.home,
            step="Reading Django settings",
            hint="fix the Django settings error above",
        )
        record_root = ctx.env.read_record().get("static_root")
        target = make_django_target(mode, answers, Path(record_root) if record_root else ctx.env.static_root)
    else:
        target = mode.target
    apache_user = None
    if mode.name not in ("shell", "python") and server == "mod_wsgi" and ctx.machine.euid == 0:
        apache_user = find_apache_user(ctx.environ)
    plan = make_start_plan(
        mode=mode,
        target=target,
        server=server,
        server_because=server_because,
        settings=ctx.settings,
        machine=ctx.machine,
        app_environ=ctx.app_environ(),
        masked=ctx.masked,
        env_path=ctx.env.path,
        runtime_dir=find_runtime_dir(ctx.env.path, Path(tempfile.gettempdir()), os.geteuid()),
        hooks_dir=HOOKS_DIR,
        app=ctx.app,
        project=ctx.project,
        versions=installed,
        apache_user=apache_user,
        reload=reload,
    )
    return plan


def find_runtime_dir(env_path: Path, tmp: Path, uid: int) -> Path:
    """A short directory for this env's sockets: TMP/warp-UID/HASH (like mod_wsgi-express's own default)."""
    return tmp / f"warp-{uid}" / hashlib.sha256(str(env_path).encode()).hexdigest()[:12]


def ensure_runtime_dir(path: Path) -> None:
    base = path.parent
    base.mkdir(mode=0o755, exist_ok=True)
    info = base.lstat()
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise EnvError(
            f"{base} is not a private directory of this user (owner, mode or symlink)",
            hint=f"remove {base}, or set TMPDIR to a directory of your own",
        )
    path.mkdir(exist_ok=True)
    # Apache's unprivileged children must reach the daemon sockets, whatever the umask.
    os.chmod(path, 0o755)


def find_apache_user(environ) -> tuple[str, str]:
    wanted = environ.get("WARP_APACHE_USER", "").strip()
    for name in (wanted,) if wanted else APACHE_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, grp.getgrgid(entry.pw_gid).gr_name
    raise UsageError(
        "Apache refuses to run as root and no unprivileged account was found (www-data, apache, daemon, nobody)",
        hint="set WARP_APACHE_USER to an account that may read the env and the project, or run warp as that user",
    )


def find_unreadable(paths: list[Path], user: str) -> list[Path]:
    """Paths that ``user`` cannot reach and read, judged from permission bits."""
    entry = pwd.getpwnam(user)
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    bad = []
    for path in paths:
        chain = [path, *path.parents]
        for index, item in enumerate(chain):
            try:
                info = item.stat()
            except OSError:
                bad.append(item)
                break
            need = stat.S_IXOTH if index else (stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(info.st_mode) else 0))
            if info.st_uid == entry.pw_uid:
                need <<= 6
            elif info.st_gid in groups:
                need <<= 3
            if info.st_mode & need != need:
                bad.append(item)
                break
    return bad


def check_apache(ctx: Context, plan: StartPlan, user: str | None) -> None:
    if not any(Path(directory, name).exists() for directory in ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/opt/homebrew/bin", "/usr/local/bin") for name in ("apache2", "httpd")):
        raise StepFailed(
            "mod_wsgi needs the Apache web server binary (apache2 or httpd), and it was not found",
            hint="install it: apt-get install apache2-bin (Debian/Ubuntu), dnf install httpd (RHEL/Fedora), brew install httpd (macOS)",
        )
    if user is None:
        return
    python = Path(os.path.realpath(ctx.env.python))
    unreadable = find_unreadable([python, ctx.env.path, ctx.source, ctx.app.home], user)
    if unreadable:
        raise EnvError(
            f"Apache runs the app as {user} (it refuses to run as root), and {user} cannot read {unreadable[0]}",
            hint=(
                f"use an interpreter and directories {user} can read, e.g. WARP_HOME=/srv/warp and "
                f"`warp activate --python /usr/bin/python3` with the project outside /root; or run warp as a normal user"
            ),
        )


def check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is already in use", hint="stop what is using it, or pass --port with a free port") from None
            if exc.errno == errno.EACCES:
                raise UsageError(f"port {port} needs root privileges", hint="use a port above 1023, e.g. --port 8080") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise UsageError(f"host {host} is not an address of this machine", hint="use --host 127.0.0.1 or --host 0.0.0.0") from None
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --host or --port") from None


def run_lifecycle_hooks(ctx: Context, environ: dict[str, str], report: Report) -> None:
    hooks = ctx.project.hooks
    meta = ctx.env.read_meta()
    if "deploy-cfg" in hooks and not meta.get("deploy_cfg_done"):
        report(" -----> Running deploy-cfg hook (once per env)")
        _run_user_hook(ctx, "deploy-cfg", environ, report)
        ctx.env.update_meta(deploy_cfg_done=True)
    if "deploy" in hooks:
        report(" -----> Running deploy hook")
        _run_user_hook(ctx, "deploy", environ, report)


def _run_user_hook(ctx: Context, name: str, environ, report: Report) -> None:
    hook = ctx.project.hooks[name]
    if hook.escapes_project:
        raise UsageError(f"hook .warp/action_hooks/{name} is a symlink to a file outside the project", hint="keep hooks inside the project")
    if not hook.is_executable:
        report(f"warning: hook .warp/action_hooks/{name} is not executable and was skipped (chmod +x it to run it)")
        return
    proc.run_hook(hook.path, env=environ, cwd=ctx.source, step=f"{name} hook")


def prepare(ctx: Context, plan: StartPlan, report: Report) -> None:
    """Everything before the server starts: hooks, checks, generated files."""
    if not ctx.env.read_record().get("state") == "ok":
        raise EnvError(f"env {ctx.env.name!r} has no successful build", hint="run `warp build` first")
    if plan.server == "mod_wsgi":
        user = next((arg for i, arg in enumerate(plan.prepare[0]) if i and plan.prepare[0][i - 1] == "--user"), None)
        if user:
            report(f" -----> Running as root: Apache will serve the app as user {user}")
        check_apache(ctx, plan, user)
        ensure_runtime_dir(Path(plan.argv[0]).parent.parent)
    if plan.server and servers.ADAPTERS[plan.server].packages[0] not in scan_installed(ctx.env):
        raise EnvError(
            f"{plan.server} is not installed in env {ctx.env.name!r}",
            hint=f"run `warp build --server {plan.server}`",
        )
    run_lifecycle_hooks(ctx, plan.environ, report)
    check_port(plan.host, plan.port)
    ctx.env.run_dir.mkdir(parents=True, exist_ok=True)
    for path, content in plan.files.items():
        path.write_text(content)
    for argv in plan.prepare:
        proc.run(argv, env=plan.environ, cwd=plan.cwd, step=f"Preparing {plan.server}")


def run_server(plan: StartPlan, report: Report) -> int:
    """Exec the server, or supervise it when its own SIGTERM is not a graceful stop."""
    if plan.stop.kind == "exec":
        proc.exec_(plan.argv, env=plan.environ, cwd=plan.cwd)
    return supervise(plan, report)


class _Flag:
    def __init__(self) -> None:
        self.signals: list[int] = []

    def __call__(self, signum, frame) -> None:  # only records; acted on in the loop
        self.signals.append(signum)


def supervise(plan: StartPlan, report: Report) -> int:
    flag = _Flag()
    previous = {sig: signal.signal(sig, flag) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        child = proc.spawn(plan.argv, env=plan.environ, cwd=plan.cwd)
        deadline = None
        handled = 0
        while True:
            code = child.poll()
            if code is not None:
                break
            if len(flag.signals) > handled:
                handled = len(flag.signals)
                if deadline is None:
                    _graceful_stop(plan, child.pid)
                    deadline = time.monotonic() + plan.stop.timeout
                elif flag.signals[-1] == signal.SIGINT:
                    _kill_group(child.pid)  # a second Ctrl-C: stop now
            if deadline is not None and time.monotonic() > deadline:
                report(f"warning: {plan.server} did not stop within {plan.stop.timeout:g}s; killing it")
                _kill_group(child.pid)
                deadline = float("inf")
            time.sleep(0.05)
        _kill_group(child.pid)  # leftovers of the process group, if any
        if deadline is not None and code in (0, -signal.SIGWINCH, -signal.SIGTERM):
            return 0
        return 128 - code if code < 0 else code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _graceful_stop(plan: StartPlan, pid: int) -> None:
    stop = plan.stop
    if stop.kind == "fifo":
        try:
            fd = os.open(stop.path, os.O_WRONLY | os.O_NONBLOCK)
            try:
                os.write(fd, stop.command.encode())
            finally:
                os.close(fd)
            return
        except OSError:
            pass  # no FIFO yet (still starting): fall back to a signal
        _signal_group(pid, signal.SIGINT)
        return
    _signal_group(pid, getattr(signal, stop.signal or "SIGTERM"))


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _kill_group(pid: int) -> None:
    _signal_group(pid, signal.SIGKILL)

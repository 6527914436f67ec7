"""Carry out a StartPlan: lifecycle hooks, checks, then exec or supervise the server."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
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
from warp.errors import EnvError, StepFailed, UsageError, WarpError, disk_full_as_error
from warp.frameworks import find_mode, find_shadowed, make_django_target
from warp.plan import StartPlan, find_server, find_usable_hook, make_start_plan
from warp.watch import IGNORED_DIRS

APACHE_USERS = ("www-data", "apache", "daemon", "nobody")
#: The groups nginx's workers run as (Debian, RHEL, Arch), first found wins.
WEB_GROUPS = ("www-data", "nginx", "http")


def make_plan(ctx: Context, *, listen_fd: int | None = None, default_socket: Path | None = None) -> StartPlan:
    reload = ctx.settings["reload"].value
    mode = find_mode(ctx.app, ctx.settings)
    installed = _installed(ctx)
    server, server_because = find_server(ctx.settings, ctx.project, installed, ctx.env.read_record().get("server"))
    if mode.name == "django":
        answers = ctx.cache.get("django")
        if answers is None:
            answers = ctx.cache["django"] = proc.run_json(
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
        listen_fd=listen_fd,
        socket_owner=find_socket_owner(ctx.machine.euid),
        default_socket=default_socket,
    )
    used, shadowed = find_shadowed(ctx.app, ctx.settings, mode)
    if shadowed:
        warning = (
            f"more than one entry point in {ctx.app.home}: using {used} ({mode.name} mode), "
            f"not {', '.join(shadowed)}; pass --mode or --app to choose"
        )
        plan = dataclasses.replace(plan, warnings=(warning,))
    return plan


def find_socket_owner(euid: int) -> tuple[str, str] | None:
    """As root, a Unix socket goes to the web server's group (mode 660); otherwise None (mode 666)."""
    if euid != 0:
        return None
    for name in WEB_GROUPS:
        try:
            grp.getgrnam(name)
        except KeyError:
            continue
        return pwd.getpwuid(euid).pw_name, name
    return None


def _installed(ctx: Context) -> dict[str, str]:
    """The env's distributions, read once per command."""
    if "installed" not in ctx.cache:
        ctx.cache["installed"] = scan_installed(ctx.env)
    return ctx.cache["installed"]


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


def check_apache(ctx: Context, user: str | None) -> None:
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


def ensure_socket_dir(path: Path) -> None:
    """The socket's directory exists and the web server may pass through it; the socket is not in use."""
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {path.parent} for the socket: {exc.strerror}", hint="pass --socket with a path in a directory you can write") from None
    with socket.socket(socket.AF_UNIX) as probe:
        if probe.connect_ex(str(path)) == 0:
            raise UsageError(f"socket {path} is already in use", hint="stop what is listening on it, or pass another --socket")


def check_port(host: str, port: int) -> None:
    bind_socket(host, port).close()


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind host:port, or explain in one line why it cannot be done."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        return sock
    except OSError as exc:
        sock.close()
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
    warnings: list[str] = []
    hook = find_usable_hook(ctx.project, name, warnings)
    for warning in warnings:
        report(f"warning: {warning}")
    if hook is not None:
        proc.run_hook(hook.path, env=environ, cwd=ctx.source, step=f"{name} hook")


def prepare(ctx: Context, plan: StartPlan, report: Report) -> None:
    """Everything before the server starts: hooks, checks, generated files."""
    wait_for_build(ctx.env, report)
    record = ctx.env.read_record()
    if not record.get("state") == "ok":
        raise EnvError(f"env {ctx.env.name!r} has no successful build", hint="run `warp build` first")
    if plan.server == "mod_wsgi":
        user = plan.apache_user[0] if plan.apache_user else None
        if user:
            report(f" -----> Running as root: Apache will serve the app as user {user}")
        check_apache(ctx, user)
        ensure_runtime_dir(plan.server_root.parent)
    check_server_installed(ctx, plan)
    run_lifecycle_hooks(ctx, plan.environ, report)
    if plan.socket:
        ensure_socket_dir(plan.socket)
    else:
        check_port(plan.host, plan.port)
    if not ctx.settings["reload"].value:  # under --reload an import error is shown and the next save retries
        check_app_imports(ctx, plan, record)
    write_plan_files(ctx, plan)
    for argv in plan.prepare:
        proc.run(argv, env=plan.environ, cwd=plan.cwd, step=f"Preparing {plan.server}")


def check_server_installed(ctx: Context, plan: StartPlan) -> None:
    if plan.server and servers.ADAPTERS[plan.server].packages[0] not in _installed(ctx):
        raise EnvError(
            f"{plan.server} is not installed in env {ctx.env.name!r}",
            hint=f"run `warp build --server {plan.server}`",
        )


def wait_for_build(env, report: Report) -> None:
    """A start during a build waits for it: the env is half-installed until the build's lock is released."""
    try:
        handle = open(env.lock_path)
    except OSError:  # no build ever ran here (or its lock is not ours to read): nothing to wait for
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            report(f" -----> Waiting for the build of env {env.name} to finish")
            fcntl.flock(handle, fcntl.LOCK_SH)


def check_app_imports(ctx: Context, plan: StartPlan, record: dict) -> None:
    """Import the WSGI app in the env first, so an app that cannot load is shown as the app's error, not the server's."""
    target = plan.target
    if plan.mode != "wsgi" or target is None or target.kind not in ("module", "script"):
        return
    where = target.module if target.kind == "module" else str(target.script)
    stamp = ctx.env.run_dir / "app-check.json"
    fingerprint = app_fingerprint(ctx, plan, (target.kind, str(where), target.callable), record)
    if _read_json(stamp) == fingerprint:
        return  # the same code, env and environment imported fine last time: start at once
    try:
        proc.run_json(
            (str(ctx.env.python), str(HOOKS_DIR / "wsgi_check.py"), target.kind, str(where), target.callable),
            env=plan.environ, cwd=plan.cwd, step="Importing the application",
            hint="fix the error in the application (its traceback is above) and start again",
        )
    except StepFailed as exc:
        if exc.returncode in (2, 3):
            raise UsageError(exc.detail.strip().splitlines()[-1], hint=APP_HINT) from None
        raise
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(fingerprint))
    except OSError:
        pass  # only a shortcut for the next start


def app_fingerprint(ctx: Context, plan: StartPlan, target: tuple[str, ...], record: dict) -> dict:
    """What an import of the app depends on that warp can see cheaply: the target, the build, the
    environment given to the app, and the name, size and mtime of every .py file in the project."""
    files = []
    skip = {Path(os.path.realpath(ctx.env.path))}
    for top, dirs, names in os.walk(ctx.source):
        dirs[:] = [d for d in dirs if d not in IGNORED_DIRS and Path(os.path.realpath(os.path.join(top, d))) not in skip]
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(top, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                files.append([os.path.relpath(path, ctx.source), info.st_size, info.st_mtime_ns])
    files.sort()
    where_it_listens = ("PORT", "WARP_HTTP_PORT", "WARP_HTTP_HOST")  # not something an app's import depends on
    environ = hashlib.sha256(json.dumps(sorted(i for i in plan.environ.items() if i[0] not in where_it_listens)).encode()).hexdigest()
    return {"target": list(target), "build": [record.get("finished"), record.get("fingerprint")], "environ": environ,
            "files": hashlib.sha256(json.dumps(files).encode()).hexdigest()}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


APP_HINT = "name the application with --app module:callable (or a .wsgi/.py file) relative to the application home"


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
                    proc.signal_group(child.pid, signal.SIGKILL)  # a second Ctrl-C: stop now
            if deadline is not None and time.monotonic() > deadline:
                report(f"warning: {plan.server} did not stop within {plan.stop.timeout:g}s; killing it")
                proc.signal_group(child.pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)
        proc.signal_group(child.pid, signal.SIGKILL)  # leftovers of the process group, if any
        if deadline is not None and code in (0, -signal.SIGWINCH, -signal.SIGTERM):
            return 0
        return 128 - code if code < 0 else code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _graceful_stop(plan: StartPlan, pid: int) -> None:
    stop = plan.stop
    if stop.kind == "fifo":
        if not _write_fifo(stop.path, stop.command):
            proc.signal_group(pid, signal.SIGINT)  # no FIFO yet (still starting): stop it with a signal
        return
    proc.signal_group(pid, getattr(signal, stop.signal or "SIGTERM"))


def _write_fifo(path: Path, command: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(fd, command.encode())
    finally:
        os.close(fd)
    return True


# ---------------------------------------------------------------- --reload


def run_reload(ctx: Context, plan: StartPlan, report: Report, reload_context) -> int:
    """Development mode: watch the tree and restart (or reload) the server on change.

    ``plan`` has been prepared already; ``reload_context`` re-reads the project
    (after a change under .warp/ or to pyproject.toml).
    """
    from warp import build, supervise, watch

    adapter = servers.ADAPTERS.get(plan.server) if plan.server else None
    takes_socket = bool(adapter and adapter.takes_socket)
    # Servers run through warp's wrapper (or Waitress's launcher) say on a pipe when the app has loaded.
    signals_ready = adapter is not None  # every adapter's reload launcher or wrapper writes to the ready pipe
    sock = None
    ready_read, ready_write = os.pipe()
    os.set_blocking(ready_read, False)
    state = {"ctx": ctx, "plan": plan}
    if takes_socket:
        sock = bind_socket(plan.host, plan.port)
        sock.listen(1024)
        state["plan"] = _replan(ctx, sock.fileno())

    fifos: dict[int, Path] = {}

    def spawn():
        _drain(ready_read)  # a byte left by an earlier child must not count for this one
        current = state["plan"]
        environ = {**current.environ, "WARP_READY_FD": str(ready_write)}
        fds = (ready_write,) + ((sock.fileno(),) if sock else ())
        argv = list(current.argv)
        fifo = None
        if current.stop.kind == "fifo":
            # Each child gets its own control FIFO, so a stop meant for the old one never reaches the new one.
            fifo = current.stop.path.with_name(f"{current.stop.path.name}.{len(fifos) + 1}")
            argv[argv.index(str(current.stop.path))] = str(fifo)
        child = proc.spawn(argv, env=environ, cwd=current.cwd, pass_fds=fds)
        if fifo:
            fifos[child.pid] = fifo
        return child

    def stop_child(child) -> None:
        fifo = fifos.pop(child.pid, None)
        if fifo is None or not _write_fifo(fifo, state["plan"].stop.command):
            proc.signal_group(child.pid, signal.SIGTERM)
        if fifo is not None:
            fifo.unlink(missing_ok=True)

    def wait_ready(child) -> bool:
        """True once the new code is up; False when the child died or the app failed to load (its error is shown)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and reloader.stop_requested is None:
            if child.poll() is not None:
                return False
            if signals_ready:
                try:
                    news = os.read(ready_read, 64)
                except BlockingIOError:
                    news = b""
                if b"1" in news:
                    return True
                if b"0" in news:
                    return False
            elif _accepts(state["plan"].host, state["plan"].port):
                return True
            time.sleep(0.005)
        return False

    def restart_apache(child) -> bool:
        """SIGHUP: Apache rereads its configuration and starts new children, keeping its socket.

        Apache would first signal its children and wait for them in growing naps (16, 64, 256 ms...);
        one that takes 80 ms to finalize Python costs the whole 256 ms. They are being discarded
        anyway, so warp kills them first and Apache finds them gone at its first look.
        """
        _drain(ready_read)
        for pid in proc.find_descendants(child.pid):  # embedded mode: Apache's children are all the app's
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.kill(child.pid, signal.SIGHUP)
        except ProcessLookupError:
            return False
        return True

    def prepare_reaction(reaction) -> bool:
        current = state["ctx"]
        try:
            if reaction.kind == "install":
                report(f" -----> {reaction.path} changed: building")
                build.run_build(current, report)
            elif reaction.kind == "static":
                if current.app.manage_py and current.app.django_settings:
                    build.run_collectstatic(current, report)
                return False
            elif reaction.kind == "config":
                state["ctx"] = reload_context()
                state["plan"] = _replan(state["ctx"], sock.fileno() if sock else None)
                write_plan_files(state["ctx"], state["plan"])
                for argv in state["plan"].prepare:
                    proc.run(argv, env=state["plan"].environ, cwd=state["plan"].cwd, step=f"Preparing {plan.server}")
            elif state["plan"].files:
                write_plan_files(current, state["plan"])
        except WarpError as exc:
            report(f"warning: {exc.message}; the server keeps running the previous code")
            return False
        return True

    reloader = supervise.Reloader(
        supervise.Hooks(
            spawn=spawn,
            wait_ready=wait_ready,
            prepare=prepare_reaction,
            report=report,
            reload_in_place=restart_apache if plan.server == "mod_wsgi" else None,
            sequential=not takes_socket,
            stop_child=stop_child,
        ),
        name=plan.server or plan.mode,
    )
    excluded = [ctx.env.path, *([Path(state["plan"].static_root)] if state["plan"].static_root else [])]
    patterns = _reload_excludes(ctx)
    accept = watch.make_filter(ctx.source, excluded=excluded, patterns=patterns)
    with supervise.StopOnSignal(reloader) as stop:
        report(f" -----> Watching {ctx.source} for changes (Ctrl-C to stop)")
        try:
            supervise.run_loop(
                reloader,
                watch.watch_changes(ctx.source, accept, stop),
                lambda batch: watch.classify(ctx.source, batch, tuple(Path(p) for p in excluded), patterns),
            )
        finally:
            reloader.shutdown(timeout=min(plan.stop.timeout, 10))
            if sock:
                sock.close()
            os.close(ready_read)
            os.close(ready_write)
    if reloader.crashed and reloader.child is not None:
        return reloader.child.poll() or 0
    return 0


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _replan(ctx: Context, listen_fd: int | None) -> StartPlan:
    return make_plan(ctx, listen_fd=listen_fd)


def write_plan_files(ctx: Context, plan: StartPlan) -> None:
    ctx.env.run_dir.mkdir(parents=True, exist_ok=True)
    for path, content in plan.files.items():
        with disk_full_as_error(writing=path):
            path.write_text(content)


def _reload_excludes(ctx: Context) -> tuple[str, ...]:
    value = ctx.project.tool.get("reload-exclude", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError("[tool.warp] reload-exclude must be a list of patterns", hint='write it as reload-exclude = ["media/", "*.log"]')
    return tuple(value)


def _accepts(host: str, port: int) -> bool:
    target = "127.0.0.1" if host == "0.0.0.0" else ("::1" if host == "::" else host)
    try:
        with socket.create_connection((target, port), timeout=0.2):
            return True
    except OSError:
        return False

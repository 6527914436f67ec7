"""What a start claims before its server runs: its port or socket, free and kept this app's; its runtime and
socket directories, made only where safe; and the finished build, held until the server runs."""

from __future__ import annotations

import _socket  # socket's core; socket itself (its enums) is imported where a socket is used
import errno
import fcntl
import grp
import hashlib
import os
import pwd
import stat

from warp.errors import EnvError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time
    import socket
    from pathlib import Path
    from typing import Callable

    from warp.report import Report

#: The groups nginx's workers run as (Debian, RHEL, Arch), first found wins.
WEB_GROUPS = ("www-data", "nginx", "http")
#: Under this directory (a tmpfs of runtime files) warp creates a socket's missing directories;
#: elsewhere only the socket's own directory, inside one that exists.
RUNTIME_ROOT = "/run"


def find_runtime_dir(env_path: Path, tmp: Path, uid: int) -> Path:
    """A short directory for this env's sockets: TMP/warp-UID/HASH (like mod_wsgi-express's own default)."""
    return tmp / f"warp-{uid}" / hashlib.sha256(str(env_path).encode()).hexdigest()[:12]


def ensure_runtime_dir(path: Path) -> None:
    ensure_private_dir(path.parent)
    path.mkdir(exist_ok=True)
    # Apache's unprivileged children must reach the daemon sockets, whatever the umask.
    os.chmod(path, 0o755)


def ensure_private_dir(base: str | os.PathLike) -> None:
    try:
        os.mkdir(base, 0o755)
    except FileExistsError:
        pass
    if not is_private_dir(os.lstat(base), os.geteuid()):
        raise EnvError(
            f"{base} is not a private directory of this user (owner, mode or symlink)",
            hint=f"remove {base}, or set TMPDIR to a directory of your own",
        )


def is_private_dir(info: os.stat_result, euid: int) -> bool:
    """Whether a directory (its lstat) is this user's alone: no symlink, owned by ``euid``, writable by no one else."""
    return stat.S_ISDIR(info.st_mode) and info.st_uid == euid and not info.st_mode & 0o022


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


def ensure_socket_dir(path: Path, report: Report) -> None:
    """The socket's directory exists (created, and said so, only where that is safe) and the socket is not in use."""
    directory = path.parent
    if not directory.is_dir():
        missing = [d for d in (directory, *directory.parents) if not d.exists()]
        if len(missing) > 1 and not directory.is_relative_to(RUNTIME_ROOT):
            raise UsageError(
                f"the directory of socket {path} does not exist, nor does {missing[-1]}",
                hint=f"create {directory} first, or pass --socket in a directory that exists",
            )
        try:
            directory.mkdir(mode=0o755, parents=True)
        except OSError as exc:
            raise UsageError(f"cannot create {directory} for the socket: {exc.strerror}", hint="pass --socket with a path in a directory you can write") from None
        report(f" -----> Created {directory} for the socket")
    import socket

    with socket.socket(socket.AF_UNIX) as probe:
        if probe.connect_ex(str(path)) == 0:
            raise UsageError(f"socket {path} is already in use", hint="stop what is listening on it, or pass another --socket")


def claim_port(runtime_base: str | os.PathLike, host: str, port: int) -> int:
    """Hold this user's lock of ``port``, then check that it is free; the fd is inherited by the server.

    Servers that bind with SO_REUSEPORT (gunicorn's workers, warp's Waitress processes) would
    share a port with a second such server of the same user, and the kernel would split the
    connections between two apps. The lock lives as long as any process that inherited it.
    """
    ensure_private_dir(runtime_base)
    fd = os.open(os.path.join(runtime_base, f"port-{port}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(f"port {port} is already in use by another `warp start`", hint="stop it, or pass --port with a free port") from None
    probe = _socket.socket(_socket.AF_INET6 if ":" in host else _socket.AF_INET, _socket.SOCK_STREAM)
    try:
        _bind(probe, host, port)
    except UsageError:
        os.close(fd)
        raise
    finally:
        probe.close()
    os.set_inheritable(fd, True)
    return fd


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind host:port, or explain in one line why it cannot be done."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        _bind(sock, host, port)
    except UsageError:
        sock.close()
        raise
    return sock


def _bind(sock: _socket.socket, host: str, port: int) -> None:
    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is already in use", hint="stop what is using it, or pass --port with a free port") from None
        if exc.errno == errno.EACCES:
            raise UsageError(f"port {port} needs root privileges", hint="use a port above 1023, e.g. --port 8080") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(f"host {host} is not an address of this machine", hint="use --host 127.0.0.1 or --host 0.0.0.0") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --host or --port") from None


def hold_finished_build(lock_path: str | os.PathLike, waiting: Callable[[], None] | None = None):
    """A shared hold on an env's build lock, waiting for a running build; None when no build ever ran.

    ``waiting`` is called before waiting; without it a running build raises BlockingIOError. The caller keeps the
    hold until the server has
    started, so a build cannot begin under a starting server.
    """
    try:
        handle = open(lock_path)
    except OSError:  # no build ever ran here (or its lock is not ours to read): nothing to wait for
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        if waiting is None:
            handle.close()
            raise
        waiting()
        fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


def accepts(host: str, port: int) -> bool:
    import socket

    target = "127.0.0.1" if host == "0.0.0.0" else ("::1" if host == "::" else host)
    try:
        with socket.create_connection((target, port), timeout=0.2):
            return True
    except OSError:
        return False

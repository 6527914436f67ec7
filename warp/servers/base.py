"""What every server adapter takes and gives, and the behaviour adapters share.

An adapter is everything warp knows about one server: the packages it installs
and what they need to compile, its argv for a resolved ``Launch``, how it takes
a socket, how it stops and reloads, what serves static files, its threads
default, and what the exports write for it. ``make_command`` is pure; the
checks that look at the machine are separate methods, called before a build
or a start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

#: Django's hashed static names (ManifestStaticFilesStorage: site.0123456789ab.css), WhiteNoise's own pattern for them.
HASHED_STATIC_NAME = r"\.[0-9a-f]{12}\.\w+$"
#: A hashed name changes whenever its content does, so it is cached for good, as WhiteNoise does for Django...
IMMUTABLE_CACHE_CONTROL = "max-age=315360000, public, immutable"
#: ...and any other static file briefly (WhiteNoise's default), so an edited file reaches browsers within a minute.
SHORT_CACHE_CONTROL = "max-age=60, public"
#: What every ASGI env gets besides its server: ServeStatic, WhiteNoise's ASGI fork (WhiteNoise has no ASGI support).
ASGI_PACKAGES = ("servestatic",)


@dataclass(frozen=True)
class Target:
    """What to serve. ``kind`` is module, script, paste, or django (the WSGI_APPLICATION of the settings the app
    runs with, read where the server loads the app; ``module`` is what the last build read, for `warp plan`)."""

    kind: str
    module: str | None = None
    callable: str = "application"
    script: Path | None = None
    ini: Path | None = None
    static_url: str | None = None
    static_root: Path | None = None
    #: The app serves its static files itself (WhiteNoise's middleware in Django's MIDDLEWARE): warp adds nothing.
    app_serves_static: bool = False
    #: ``callable`` is a factory the server's module calls with these literal arguments ("()", "('prod')"); None: the app itself.
    factory: str | None = None
    #: A Django app: the server's module reads the static files settings where it loads the app.
    django: bool = False
    #: Where collectstatic puts the files of a Django project whose settings name no STATIC_ROOT (the env's).
    static_fallback: Path | None = None

    @property
    def spec(self) -> str:
        if self.kind == "module" and not self.callable:
            return self.module
        if self.kind == "module" or (self.kind == "django" and self.module):
            return f"{self.module}:{self.callable}{self.factory or ''}"
        if self.kind == "django":
            return "WSGI_APPLICATION of the Django settings"
        return str(self.script if self.kind == "script" else self.ini)

    @property
    def should_serve_static(self) -> bool:
        """The server warp starts serves the static files (the app does not)."""
        return bool(self.static_url and self.static_root) and not self.app_serves_static


@dataclass(frozen=True)
class Launch:
    """Everything an adapter needs, already resolved."""

    target: Target
    env_path: Path
    run_dir: Path
    #: A short per-user directory for sockets (Unix socket paths are limited to 107 bytes).
    runtime_dir: Path
    hooks_dir: Path
    home: Path
    python_path: tuple[Path, ...]
    host: str
    port: int
    processes: int
    threads: int
    #: Whole seconds: gunicorn and mod_wsgi-express take nothing else.
    graceful_timeout: int
    versions: dict[str, str] = field(default_factory=dict)
    #: (user, group) the server switches to when warp runs as root (Apache refuses root).
    run_user: tuple[str, str] | None = None
    extra_args: tuple[str, ...] = ()
    reload: bool = False
    #: A listening socket inherited from warp (--reload), instead of host:port.
    listen_fd: int | None = None
    #: A Unix socket to listen on instead of host:port (behind nginx).
    socket: Path | None = None
    #: (user, group) to own the Unix socket, so the web server's workers may connect; None: mode 666.
    socket_owner: tuple[str, str] | None = None
    #: Which child of a --reload session this is (0 in production): per-child control files differ.
    generation: int = 0
    #: The protocol between server and app: wsgi or asgi.
    interface: str = "wsgi"
    #: ASGI: the app takes lifespan events (Django has none: off).
    lifespan: bool = True

    @property
    def bin(self) -> Path:
        return self.env_path / "bin"


@dataclass(frozen=True)
class Stop:
    """How warp stops the server gracefully.

    ``exec``: warp execs the server, whose own SIGTERM is graceful.
    ``signal``: warp stays the parent and sends ``signal`` (e.g. WINCH) instead.
    ``fifo``: warp writes ``command`` to the server's control FIFO at ``path``.
    After ``timeout`` seconds the process group gets SIGKILL.
    """

    kind: str
    signal: str | None = None
    path: Path | None = None
    command: str | None = None
    timeout: float = 30.0
    #: The signal goes to the whole process group; False: to the server's main process only, for servers
    #: whose workers take no signal themselves and die of it (Hypercorn's: their parent stops them).
    group: bool = True
    #: What warp, staying the parent, sends the server's main process on SIGHUP: its graceful reload, new processes
    #: that import the app again (uvicorn's, Hypercorn's and uWSGI's SIGHUP, mod_wsgi's SIGUSR1); app.py and app.sh get
    #: SIGHUP itself, which means what they make it mean.
    reload: str = "SIGHUP"
    #: The reload signal goes instead to each of the server's processes whose command line starts with this
    #: (mod_wsgi's daemon processes, which finish their requests and start again with the app imported anew).
    reload_processes: str | None = None


@dataclass(frozen=True)
class ServerCommand:
    argv: tuple[str, ...]
    stop: Stop
    #: Commands run to completion before ``argv`` (e.g. mod_wsgi's setup-server).
    prepare: tuple[tuple[str, ...], ...] = ()
    #: Files to write before starting: path -> content. Always inside the env.
    files: dict[Path, str] = field(default_factory=dict)
    #: The directory the server generates its own files into (mod_wsgi-express's server root).
    server_root: Path | None = None
    #: A file warp's ASGI module writes when the app's lifespan startup failed, for a server that then exits 0:
    #: warp stays its parent and turns that exit into an error.
    failure_marker: Path | None = None


class Adapter:
    """The defaults: a pure-Python WSGI server that speaks HTTP on a port and stops on SIGTERM."""

    name = ""
    #: Other spellings users write for it (in --server, WARP_SERVER_TYPE, .warp/server_type).
    aliases: tuple[str, ...] = ()
    #: What `warp build` installs; the first is the server's own distribution.
    packages: tuple[str, ...] = ()
    #: Distribution names that, found in requirements.txt, select this server.
    requirement_names: tuple[str, ...] = ()
    #: The protocols it speaks to the app, wsgi and/or asgi.
    interfaces: tuple[str, ...] = ("wsgi",)
    #: Takes a listening socket inherited from warp (so --reload refuses no request).
    takes_socket = True
    #: The protocol it speaks on a Unix socket; None: it cannot listen on one.
    unix_protocol: str | None = None
    #: Threads per process by default (from the throughput grid in docs/benchmarks.md).
    default_threads = 4
    #: Chosen by `auto` when found installed in the env (warpdrive's preference for mod_wsgi).
    preferred_when_installed = False
    #: Debian packages an image needs to build it (first stage) and to run it (final stage).
    image_build_packages: tuple[str, ...] = ()
    image_run_packages: tuple[str, ...] = ()
    #: Loads new code inside the running server (reload_in_place) instead of being replaced by a new child.
    reloads_in_place = False
    #: Under --reload, a parked process that imported it forks each new server (a Python server run as a script).
    forks_warm = False
    #: Why it cannot, for `warp plan --reload` (``{name}``: the server's).
    cold_reload_because = "{name} is not a Python server warp can fork"
    #: What that parked process imports at once; the rest it learns from the app's processes.
    warm_imports: tuple[str, ...] = ()
    #: What serves Django's collected static files, for `warp plan`.
    static_server = "WhiteNoise, in a wrapper module warp generates in the env"
    #: A server compiled at install: its name as users know it ("uWSGI") and about how long it compiles;
    #: "" for pure Python. Its wheel is built once per build configuration and kept (warp.env.wheelstore).
    compiled_as = ""
    compile_seconds = 0
    #: Prefixes of the environment variables its build reads, besides the compiler's.
    build_variables: tuple[str, ...] = ()

    def make_command(self, launch: Launch) -> ServerCommand:
        raise NotImplementedError

    def find_packages(self, interface: str) -> tuple[str, ...]:
        """What `warp build` installs for an app of this interface: for ASGI, ServeStatic serves Django's static files."""
        if interface == "asgi":
            return tuple(name for name in self.packages if name != "whitenoise") + tuple(p for p in ASGI_PACKAGES if p not in self.packages)
        return self.packages

    def check_interface(self, interface: str, versions: Mapping[str, str]) -> str | None:
        """Why this server (at the installed version) cannot serve an app of ``interface``; None: it can."""
        if interface in self.interfaces:
            return None
        return f"{self.name} serves {' and '.join(i.upper() for i in self.interfaces)} applications only"

    def check_build(self, environ: Mapping[str, str]) -> None:
        """Raise StepFailed, naming what to install, when the machine cannot build the server."""

    def scan_build_facts(self, environ: Mapping[str, str]) -> dict:
        """What its compiled wheel depends on besides the Python and the compiler (mod_wsgi: the Apache of apxs)."""
        return {}

    def find_run_user(self, environ: Mapping[str, str], euid: int) -> tuple[str, str] | None:
        """The (user, group) the server must switch to under this euid; None: it runs as warp does."""
        return None

    def check_start(self, plan, readable: list[Path], report) -> None:
        """Machine checks before the server starts (binaries it runs, files its user must read)."""

    def default_socket(self, env_name: str) -> Path | None:
        """Where it listens behind nginx on the same machine when no socket is set; None: host and port."""
        return None

    def proxy_directives(self, upstream: str) -> list[str]:
        """nginx's `location /` lines that pass a request to it."""
        return [
            f"proxy_pass http://{upstream};",
            "proxy_set_header Host $http_host;",
            "proxy_set_header X-Real-IP $remote_addr;",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $scheme;",
            "proxy_redirect off;",
        ]

    def reload_in_place(self, pid: int) -> bool:
        """Make the running server ``pid`` load the new code itself (when reloads_in_place); False: it is gone."""
        raise NotImplementedError


def is_at_least(version: str | None, minimum: tuple[int, ...]) -> bool:
    if not version:
        return False
    parts = []
    for piece in version.split("."):
        digits = re.match(r"\d*", piece).group()
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:
            break
    return tuple(parts) >= minimum


def bind_address(launch: Launch) -> str:
    """gunicorn's --bind form, which uWSGI's --http-socket shares: fd://N, unix:PATH or host:port."""
    if launch.listen_fd is not None:
        return f"fd://{launch.listen_fd}"
    if launch.socket is not None:
        return f"unix:{launch.socket}"
    return host_port(launch.host, launch.port)


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

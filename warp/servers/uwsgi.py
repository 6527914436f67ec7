"""uWSGI: compiled at install; stopped through its master FIFO (its SIGTERM reloads)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Mapping

from warp.errors import StepFailed
from warp.servers.base import HASHED_STATIC_NAME, IMMUTABLE_CACHE_CONTROL, SHORT_CACHE_CONTROL, Adapter, Launch, ServerCommand, Stop, bind_address
from warp.servers.wrapper import WRAPPER_MODULE, make_loading, make_wrapper_source


class Uwsgi(Adapter):
    name = "uwsgi"
    packages = ("uwsgi",)
    requirement_names = ("uwsgi", "pyuwsgi")
    #: nginx's uwsgi_pass speaks the binary uwsgi protocol: leaner than HTTP between the two.
    unix_protocol = "uwsgi"
    #: The throughput grid: 2 x 2 beat every other point by 12% or more (docs/benchmarks.md).
    default_threads = 2
    #: PCRE for the response routes that give static files their Cache-Control; without it uWSGI compiles fine and then
    #: refuses --response-route-if. The run stage's libpcre2-8-0 is in every Debian base (grep needs it).
    image_build_packages = ("gcc", "libc6-dev", "libpcre2-dev")
    static_server = "uWSGI's --static-map"
    compiled_as = "uWSGI"
    compile_seconds = 20
    build_variables = ("UWSGI_",)

    def make_command(self, launch: Launch) -> ServerCommand:
        target = launch.target
        # Each --reload child gets its own control FIFO, so a stop meant for the old one never reaches the new one.
        fifo = launch.run_dir / (f"uwsgi-{launch.port}.fifo" + (f".{launch.generation}" if launch.generation else ""))
        argv = [
            str(launch.bin / "uwsgi"),
            "--master",
            *_listen(launch),
            "--processes", str(launch.processes),
            "--threads", str(launch.threads),
            "--enable-threads",
            "--die-on-term",
            "--need-app",
            "--single-interpreter",
            "--thunder-lock",
            "--virtualenv", str(launch.env_path),
            "--chdir", str(launch.home),
            "--master-fifo", str(fifo),
            "--buffer-size", "65535",
            "--ignore-sigpipe",
            "--ignore-write-errors",
            "--disable-write-exception",
        ]
        # The app is loaded by warp's module (which tells warp's reloader when it is); one that cannot load ends uWSGI.
        loading = make_loading(launch, self.name, static_in_argv=True)  # the static files are mapped below, never by WhiteNoise
        files = {launch.run_dir / f"{WRAPPER_MODULE}.py": make_wrapper_source(target, loading, signal_ready=launch.reload)}
        argv += ["--pythonpath", str(launch.run_dir)]
        for path in launch.python_path:
            argv += ["--pythonpath", str(path)]
        argv += ["--module", f"{WRAPPER_MODULE}:application"]
        if target.should_serve_static:
            argv += _static_files(target.static_url, target.static_root)
        return ServerCommand(
            argv=tuple(argv) + launch.extra_args,
            stop=Stop("fifo", path=fifo, command="q", timeout=launch.graceful_timeout),
            files=files,
        )

    def check_build(self, environ: Mapping[str, str]) -> None:
        path = environ.get("PATH")
        if not any(shutil.which(name, path=path) for name in (environ.get("CC", ""), "cc", "gcc") if name):
            raise StepFailed(
                "uWSGI compiles from source, and no C compiler was found",
                hint="install one with the Python headers: apt-get install gcc python3-dev (Debian/Ubuntu), dnf install gcc python3-devel (RHEL/Fedora)",
            )
        # uWSGI's build looks for these; without one it leaves out the routing that warp's static file headers use.
        if not any(shutil.which(name, path=path) for name in ("pcre2-config", "pcre-config")):
            raise StepFailed(
                "uWSGI would compile without PCRE (no pcre2-config found), and warp's static file routes need it",
                hint="install PCRE's headers: apt-get install libpcre2-dev (Debian/Ubuntu), dnf install pcre2-devel (RHEL/Fedora)",
            )

    def default_socket(self, env_name: str) -> Path:
        return Path("/run/warp") / env_name / "uwsgi.sock"

    def proxy_directives(self, upstream: str) -> list[str]:
        return ["include uwsgi_params;", f"uwsgi_pass {upstream};"]


def _static_files(url: str, root: Path) -> list[str]:
    """uWSGI serves the directory itself: the .br, else the .gz copy to a client that accepts it, and Cache-Control.

    --static-expires sets only Expires, and --add-header would reach the app's responses too, so Cache-Control and
    Vary come from response routes that match what the static map answered (200, or 304 to a conditional GET) under
    the URL; a missing file falls through to the app, whose 404 gets none of them.
    """
    prefix = url.rstrip("/") + "/"
    served = "regexp:${uwsgi[status]}${PATH_INFO};^(200|304)" + re.escape(prefix)
    return [
        "--static-map", f"{prefix.rstrip('/') or '/'}={root}",
        "--static-gzip-all",
        "--response-route-if", f"{served}.*{HASHED_STATIC_NAME} addheader:Cache-Control: {IMMUTABLE_CACHE_CONTROL}",
        "--response-route-if", f"{served}(?!.*{HASHED_STATIC_NAME}) addheader:Cache-Control: {SHORT_CACHE_CONTROL}",
        "--response-route-if", f"{served} addheader:Vary: Accept-Encoding",
    ]


def _listen(launch: Launch) -> list[str]:
    """HTTP on host:port, or the uwsgi protocol on a Unix socket that the web server's workers may open."""
    if launch.socket is None or launch.listen_fd is not None:
        return ["--http-socket", bind_address(launch)]
    if launch.socket_owner:
        return ["--socket", str(launch.socket), "--chmod-socket=660", "--chown-socket", ":".join(launch.socket_owner)]
    # Not root: warp cannot give the socket to the web server's group; 666 is as open as a loopback port.
    return ["--socket", str(launch.socket), "--chmod-socket=666"]

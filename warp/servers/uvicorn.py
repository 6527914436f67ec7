"""uvicorn, through warp's launcher (hooks/uvicorn_serve.py): execs; graceful on SIGTERM within warp's graceful timeout;
ServeStatic for Django's static files."""

from __future__ import annotations

from warp.servers.base import ASGI_PACKAGES, Adapter, Launch, ServerCommand, Stop
from warp.servers.wrapper import make_asgi_app, make_failure_marker


class Uvicorn(Adapter):
    name = "uvicorn"
    # uvloop and httptools: uvicorn's fast loop and parser ([standard] without the reloader); websockets for WebSockets.
    packages = ("uvicorn", "uvloop", "httptools", "websockets", *ASGI_PACKAGES)
    requirement_names = ("uvicorn", "uvicorn-worker")
    interfaces = ("asgi",)
    unix_protocol = "http"
    default_threads = 1
    static_server = "ServeStatic (ServeStaticASGI), in an ASGI module warp generates in the env"
    forks_warm = True
    warm_imports = ("uvicorn.main", "uvicorn.server", "uvicorn.config", "uvloop", "httptools", "servestatic")

    def make_command(self, launch: Launch) -> ServerCommand:
        # One process exits 3 when the app's startup fails; with several, uvicorn's parent stops them all and exits 0,
        # so warp's module leaves a marker and warp, staying the parent, makes that exit an error.
        marker = make_failure_marker(launch) if launch.processes > 1 and launch.lifespan else None
        app, files, python_path = make_asgi_app(launch, self.name, failure_marker=marker)
        if launch.listen_fd is not None:
            where = ["--fd", str(launch.listen_fd)]
        elif launch.socket is not None:
            where = ["--uds", str(launch.socket)]
        else:
            where = ["--host", launch.host, "--port", str(launch.port)]
        argv = [
            # uvicorn itself, with a stop that answers the connections it accepted last (see the launcher).
            str(launch.bin / "python"), str(launch.hooks_dir / "uvicorn_serve.py"),
            *where,
            "--workers", str(launch.processes),
            # Its default waits forever: an open WebSocket or stream would hold a stopped server up.
            "--timeout-graceful-shutdown", str(launch.graceful_timeout),
            "--lifespan", "auto" if launch.lifespan else "off",
            "--app-dir", str(python_path[0]),
        ]

        argv += ["--proxy-headers", "--forwarded-allow-ips", "*"] if launch.socket is not None else []
        # With several workers warp stays the parent too: a worker that cannot load the app would be replaced forever.
        several = launch.processes > 1
        stop = Stop("signal", signal="SIGTERM", timeout=launch.graceful_timeout) if several else Stop("exec", timeout=launch.graceful_timeout)
        return ServerCommand(argv=tuple(argv) + launch.extra_args + (app,), stop=stop, files=files, failure_marker=marker)

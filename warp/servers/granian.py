"""Granian: execs; graceful on its own SIGTERM, its workers killed after warp's graceful timeout; ServeStatic for Django.

Granian takes no inherited socket (it binds its own, with SO_REUSEPORT): under --reload
warp stops the old server before the new one binds the port, so requests made in
between are refused (see docs/development.md).
"""

from __future__ import annotations

from warp.servers.base import ASGI_PACKAGES, Adapter, Launch, ServerCommand, Stop
from warp.servers.wrapper import make_asgi_app


class Granian(Adapter):
    name = "granian"
    packages = ("granian", "uvloop", *ASGI_PACKAGES)
    requirement_names = ("granian",)
    interfaces = ("asgi",)
    takes_socket = False
    unix_protocol = "http"
    default_threads = 1
    static_server = "ServeStatic (ServeStaticASGI), in an ASGI module warp generates in the env"

    def make_command(self, launch: Launch) -> ServerCommand:
        # A failed lifespan startup ends Granian with 1 by itself (any number of workers): the app is served as it is.
        # The access log is written by warp's module: Granian's own (--access-log) costs a third of its throughput.
        app, files, _ = make_asgi_app(launch, self.name, by_path=True, access_log=True)
        where = ["--uds", str(launch.socket)] if launch.socket is not None else ["--host", launch.host, "--port", str(launch.port)]
        argv = [
            # Granian's command line, through warp's launcher: its workers exit with it, even when it is SIGKILLed.
            str(launch.bin / "python"), str(launch.hooks_dir / "serve.py"), "granian.cli:entrypoint",
            # asginl: ASGI without lifespan (Django has none).
            "--interface", "asgi" if launch.lifespan else "asginl",
            *where,
            "--workers", str(launch.processes),
            # Without it a worker that dies (killed, out of memory) stops the whole server.
            "--respawn-failed-workers",
            # Without it a stop waits for every open WebSocket and stream.
            "--workers-kill-timeout", str(launch.graceful_timeout),
        ]
        # A worker that cannot load the app ends Granian (or, replaced, fails again within Granian's crash-loop window).
        return ServerCommand(argv=tuple(argv) + launch.extra_args + (app,), stop=Stop("exec", timeout=launch.graceful_timeout), files=files)

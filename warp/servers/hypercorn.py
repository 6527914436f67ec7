"""Hypercorn: execs; graceful on its own SIGTERM within warp's graceful timeout; ServeStatic for Django's static files."""

from __future__ import annotations

from warp.servers.base import ASGI_PACKAGES, Adapter, Launch, ServerCommand, Stop, bind_address
from warp.servers.wrapper import make_asgi_app, make_failure_marker


class Hypercorn(Adapter):
    name = "hypercorn"
    packages = ("hypercorn", "uvloop", *ASGI_PACKAGES)
    requirement_names = ("hypercorn",)
    interfaces = ("asgi",)
    unix_protocol = "http"
    default_threads = 1
    static_server = "ServeStatic (ServeStaticASGI), in an ASGI module warp generates in the env"
    cold_reload_because = "hypercorn starts its workers as new interpreters (multiprocessing's spawn), which no fork reaches"

    def make_command(self, launch: Launch) -> ServerCommand:
        # A failed lifespan startup ends Hypercorn with 0: warp's module leaves a marker and warp, staying the
        # parent, makes that exit an error.
        marker = make_failure_marker(launch) if launch.lifespan else None
        app, files, _ = make_asgi_app(launch, self.name, exit_on_failed_startup=True, by_path=True, failure_marker=marker)
        argv = [
            # Hypercorn's command line, through warp's launcher: its workers exit with it, even when it is SIGKILLed.
            str(launch.bin / "python"), str(launch.hooks_dir / "serve.py"), "hypercorn.__main__:main",
            "--bind", bind_address(launch),  # fd://N, unix:PATH or host:port, as gunicorn writes them
            "--workers", str(launch.processes),
            "--worker-class", "uvloop",
            "--graceful-timeout", str(launch.graceful_timeout),
            "--access-logfile", "-",
        ]
        # Its workers have no SIGTERM handler of their own (a signal to them ends their requests): only the parent.
        # With several workers warp stays the parent too: a worker that cannot load the app would be replaced forever.
        parent = marker or launch.processes > 1
        stop = Stop("signal", signal="SIGTERM", timeout=launch.graceful_timeout, group=False) if parent else Stop("exec", timeout=launch.graceful_timeout)
        return ServerCommand(argv=tuple(argv) + launch.extra_args + (app,), stop=stop, files=files, failure_marker=marker)

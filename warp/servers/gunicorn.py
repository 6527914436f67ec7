"""gunicorn: execs, graceful on its own SIGTERM; WhiteNoise for static files; ASGI with its own asgi worker (25.1+)."""

from __future__ import annotations

from warp.servers.base import Adapter, Launch, ServerCommand, Stop, bind_address, is_at_least
from warp.servers.wrapper import WRAPPER_MODULE, make_asgi_app, make_loading, make_wrapper_source

#: gunicorn's logger, saying where the workers listen when each has its own SO_REUSEPORT socket (see make_command).
LOGGER_MODULE = "warp_gunicorn_log"
LOGGER_SOURCE = """\
from gunicorn.glogging import Logger as _Logger


class _NamesAddress:
    def info(self, msg, *args, **kwargs):
        if msg.startswith("Listening at: %s") and args and not args[0]:
            where = ",".join(bind if bind.startswith("unix:") else "http://" + bind for bind in self.cfg.bind)
            args = (where + " (a SO_REUSEPORT socket in each worker)",) + tuple(args[1:])
        super().info(msg, *args, **kwargs)


class Logger(_NamesAddress, _Logger):
    def __new__(cls, cfg):
        if cfg.statsd_host is None:
            return super().__new__(cls)
        # gunicorn takes its statsd logger when the logger class is its default: so does this one.
        from gunicorn.instrument.statsd import Statsd

        logger = type("Statsd", (_NamesAddress, Statsd), {})(cfg)
        return logger
"""


class Gunicorn(Adapter):
    name = "gunicorn"
    packages = ("gunicorn", "whitenoise")
    requirement_names = ("gunicorn",)
    interfaces = ("wsgi", "asgi")
    unix_protocol = "http"
    #: Its native ASGI worker (-k asgi) is stable from 25.1; from 27.0 a failed lifespan startup stops gunicorn by itself.
    ASGI_SINCE = (25, 1)
    forks_warm = True
    warm_imports = ("gunicorn.app.wsgiapp", "gunicorn.arbiter", "gunicorn.workers.sync", "gunicorn.workers.gthread", "whitenoise")

    def check_interface(self, interface: str, versions) -> str | None:
        version = versions.get("gunicorn")
        if interface == "asgi" and version and not is_at_least(version, self.ASGI_SINCE):
            return f"gunicorn {version} has no stable ASGI worker (it came in 25.1)"
        return super().check_interface(interface, versions)

    def make_command(self, launch: Launch) -> ServerCommand:
        target = launch.target
        argv = [
            str(launch.bin / "gunicorn"),
            "--bind", bind_address(launch),
            "--workers", str(launch.processes),
            *(("--threads", str(launch.threads)) if launch.interface == "wsgi" else ("--worker-class", "asgi")),
            "--graceful-timeout", str(launch.graceful_timeout),
            "--access-logfile", "-",
            "--chdir", str(launch.home),
        ]
        if launch.interface == "asgi":
            argv += ["--asgi-lifespan", "auto" if launch.lifespan else "off"]
        elif launch.threads > 1:
            argv += ["--worker-class", "gthread"]
        if is_at_least(launch.versions.get("gunicorn"), (25, 1)):
            argv.append("--no-control-socket")  # otherwise one control socket is shared between instances
        on_port = launch.listen_fd is None and launch.socket is None
        files = {}
        python_path = list(launch.python_path)
        reuse_port = launch.processes > 1 and on_port and is_at_least(launch.versions.get("gunicorn"), (24,))
        if reuse_port:
            # From 24.0 each worker listens on a SO_REUSEPORT socket of its own, so the kernel spreads connections
            # evenly; on one shared socket a worker that wakes first takes most keep-alive connections while the
            # others idle (docs/benchmarks.md). warp holds the port's lock, so no second warp shares the port.
            # The arbiter then holds no socket and logs "Listening at:  (PID)": warp's logger class names the address.
            argv += ["--reuse-port", "--logger-class", f"{LOGGER_MODULE}.Logger"]
        if launch.interface == "asgi":
            # Before 27.0 a failed lifespan startup was only logged and the worker served: warp's module ends it with 3.
            app, files, asgi_path = make_asgi_app(launch, self.name, exit_on_failed_startup=not is_at_least(launch.versions.get("gunicorn"), (27,)))
            python_path, app_args = list(asgi_path), [app]
        else:
            # The app is loaded by warp's module; a worker that cannot load it exits 3, on which gunicorn stops.
            files[launch.run_dir / f"{WRAPPER_MODULE}.py"] = make_wrapper_source(
                target, make_loading(launch, self.name), launch.reload, launch.reload,
                report_modules=launch.hooks_dir / "_common.py" if launch.reload else None,
            )
            python_path.insert(0, launch.run_dir)
            app_args = [f"{WRAPPER_MODULE}:application"]
        if reuse_port:
            files = {**files, launch.run_dir / f"{LOGGER_MODULE}.py": LOGGER_SOURCE}
            python_path.insert(0, launch.run_dir)
        argv += ["--pythonpath", ",".join(str(path) for path in dict.fromkeys(python_path))]
        return ServerCommand(
            argv=tuple(argv) + launch.extra_args + tuple(app_args),
            stop=Stop("exec", timeout=launch.graceful_timeout),
            files=files,
        )

"""Waitress, through warp's launcher (hooks/waitress_serve.py): N processes, graceful SIGTERM, WhiteNoise."""

from __future__ import annotations

from warp.servers.base import Adapter, Launch, ServerCommand, Stop, host_port
from warp.servers.wrapper import WRAPPER_MODULE, make_loading, make_wrapper_source

#: The exit code with which the launcher's processes say that the app cannot load (its APP_FAILED).
APP_FAILED = 1


class Waitress(Adapter):
    name = "waitress"
    packages = ("waitress", "whitenoise")
    requirement_names = ("waitress",)
    static_server = "WhiteNoise, in a wrapper module warp generates in the env"
    forks_warm = True
    warm_imports = ("waitress", "waitress.server", "whitenoise")

    def make_command(self, launch: Launch) -> ServerCommand:
        target = launch.target
        listen = ("--fd", str(launch.listen_fd)) if launch.listen_fd is not None else ("--listen", host_port(launch.host, launch.port))
        argv = [
            str(launch.bin / "python"),
            str(launch.hooks_dir / "waitress_serve.py"),
            *listen,
            "--processes", str(launch.processes),
            "--threads", str(launch.threads),
            "--graceful-timeout", str(launch.graceful_timeout),
        ]
        # The app is loaded by warp's module, which adds WhiteNoise for the static files.
        module = launch.run_dir / f"{WRAPPER_MODULE}.py"
        files = {module: make_wrapper_source(target, make_loading(launch, self.name, exit_code=APP_FAILED), autorefresh=launch.reload)}
        argv += ["--script", str(module), "--callable", "application"]
        # The launcher turns SIGTERM into waitress's graceful stop, so warp can exec it.
        return ServerCommand(argv=tuple(argv) + launch.extra_args, stop=Stop("exec", timeout=launch.graceful_timeout), files=files)

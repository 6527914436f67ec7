"""Waitress, through warp's launcher (hooks/waitress_serve.py): N processes, graceful SIGTERM, WhiteNoise."""

from __future__ import annotations

from warp.servers.base import HASHED_STATIC_NAME, Adapter, Launch, ServerCommand, Stop, host_port


class Waitress(Adapter):
    name = "waitress"
    packages = ("waitress", "whitenoise")
    requirement_names = ("waitress",)
    static_server = "WhiteNoise, added by warp's Waitress launcher"
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
        if target.kind == "module":
            argv += ["--app", target.spec]
        elif target.kind == "script":
            argv += ["--script", str(target.script), "--callable", target.callable]
        else:
            argv += ["--paste", str(target.ini)]
        if target.should_serve_static:
            argv += ["--static-url", target.static_url, "--static-root", str(target.static_root), "--immutable-file-test", HASHED_STATIC_NAME]
        if launch.reload:
            argv.append("--autorefresh")
        # The launcher turns SIGTERM into waitress's graceful stop, so warp can exec it.
        return ServerCommand(argv=tuple(argv) + launch.extra_args, stop=Stop("exec", timeout=launch.graceful_timeout))

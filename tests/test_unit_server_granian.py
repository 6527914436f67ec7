"""warp.servers.granian: the Granian adapter's command, stop, static files and sockets for a resolved launch; pure."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


def test_granian_argv():
    plan = asgi_plan("granian", flags={"graceful_timeout": "4", "processes": "2"})
    argv = plan.argv
    assert after(argv, "--interface") == "asgi" and after(argv, "--workers") == "2" and after(argv, "--workers-kill-timeout") == "4"
    assert "--access-log" not in argv  # Granian's own costs a third of its throughput: warp's module writes it
    assert "--respawn-failed-workers" in argv  # else a worker that dies stops the server
    assert argv[:3] == (str(ENV / "bin" / "python"), str(HOOKS / "serve.py"), "granian.cli:entrypoint")  # its workers exit with it
    assert argv[-1] == f"{RUN / 'warp_asgi.py'}:application"
    source = plan.files[RUN / "warp_asgi.py"]
    assert "application = _access_logged(application)" in source and "lifespan.startup" not in source  # Granian stops on a failed startup by itself
    assert asgi_plan("granian", reload=True).argv[-1] == f"{RUN / 'warp_asgi.py'}:application"  # the ready pipe
    assert not servers.ADAPTERS["granian"].takes_socket  # no fd option: --reload restarts it in turn

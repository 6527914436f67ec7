"""warp.servers.hypercorn: the Hypercorn adapter's command, stop, static files and sockets for a resolved launch; pure."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


def test_hypercorn_argv():
    plan = asgi_plan("hypercorn", flags={"graceful_timeout": "5"}, reload=True, listen_fd=6)
    assert after(plan.argv, "--bind") == "fd://6" and after(plan.argv, "--graceful-timeout") == "5"
    assert plan.argv[-1] == f"{RUN / 'warp_asgi.py'}:application"  # Hypercorn imports a file from its directory
    assert plan.argv[:3] == (str(ENV / "bin" / "python"), str(HOOKS / "serve.py"), "hypercorn.__main__:main")  # its workers exit with it
    assert plan.failure_marker is not None and plan.stop.kind == "signal"

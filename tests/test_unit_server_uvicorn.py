"""warp.servers.uvicorn: the uvicorn adapter's command, stop, static files and sockets for a resolved launch; pure."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


def test_uvicorn_argv():
    plan = asgi_plan("uvicorn", flags={"graceful_timeout": "7", "processes": "3"})
    argv = plan.argv
    assert argv[:2] == (str(ENV / "bin" / "python"), str(HOOKS / "uvicorn_serve.py")) and argv[-1] == "warp_asgi:application"
    assert (after(argv, "--host"), after(argv, "--port"), after(argv, "--workers")) == ("127.0.0.1", "8080", "3")
    assert after(argv, "--timeout-graceful-shutdown") == "7"  # an open WebSocket cannot hold a stop up for ever
    assert after(argv, "--lifespan") == "auto"
    # three processes: uvicorn's parent exits 0 when the startup fails, so warp stays the parent and looks for the marker
    assert plan.stop == Stop("signal", signal="SIGTERM", timeout=7) and plan.failure_marker == RUN / "startup-failed-0"
    source = plan.files[RUN / "warp_asgi.py"]
    assert "exit_on_failure = False" in source and f"open({str(RUN / 'startup-failed-0')!r}, 'w').close()" in source  # its workers exit 3 themselves
    assert dict((d.name, d.value) for d in plan.decisions)["processes x threads"] == "3 x 1"


def test_uvicorn_one_process_execs_and_loads_the_app_through_warps_module():
    plan = asgi_plan("uvicorn", flags={"processes": "1"})
    assert plan.argv[-1] == "warp_asgi:application" and plan.stop.kind == "exec" and plan.failure_marker is None
    assert loads(plan, "module", "main", "app") and "interface='asgi'" in generated_module(plan)


def test_uvicorn_reload_takes_warps_socket_and_tells_when_ready():
    plan = asgi_plan("uvicorn", reload=True, listen_fd=7)
    assert after(plan.argv, "--fd") == "7" and "--host" not in plan.argv
    assert plan.argv[-1] == "warp_asgi:application" and after(plan.argv, "--app-dir") == str(RUN)
    source = plan.files[RUN / "warp_asgi.py"]
    assert "lifespan.startup.complete" in source and "_tell_warp(b'1')" in source

"""ASGI apps end to end: FastAPI, Starlette, Quart and Django's asgi.py, found and served on each ASGI server."""

from __future__ import annotations

import re
import signal
import time

import pytest

from conftest import ASGI_SERVERS, build_app, warp
from test_reload_e2e import edit, edit_in_turn, start_pollers, start_reloading, wait_for_output, wait_for_text

pytestmark = pytest.mark.e2e

#: app -> (what / answers with, its WebSocket echo path or None)
APPS = {
    "fastapi_app": ("hello from fastapi", "/ws"),
    "starlette_app": ("hello from starlette", "/ws"),
    "quart_app": ("hello from quart", "/ws"),
    "django_asgi": ("The install worked successfully", None),
}


def wait_for_leftovers(running, wait: float = 5) -> set[int]:
    """The server's processes still running ``wait`` seconds after it stopped (multiprocessing's tracker exits last)."""
    deadline = time.monotonic() + wait
    while running.leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    return running.leftovers()


def asgi_param(app: str, server: str):
    # uvicorn serves every app in the fast run; the others take a build each.
    marks = [] if server == "uvicorn" or app == "fastapi_app" else [pytest.mark.slow]
    return pytest.param(app, server, marks=marks, id=f"{app}-{server}")


@pytest.mark.parametrize("app_name, server", [asgi_param(app, server) for app in APPS for server in ASGI_SERVERS])
def test_each_asgi_app_on_each_server(app_name, server, run_warp):
    app = build_app(app_name, server)
    text, ws_path = APPS[app_name]
    plan = warp("plan", "--server", server, cwd=app.src, home=app.home).stdout
    assert re.search(r"^interface +asgi +because", plan, re.MULTILINE), plan
    assert re.search(rf"^server +{server} +because from --server", plan, re.MULTILINE), plan
    running = run_warp(app, "--server", server, "--processes", "2")
    running.wait_ready("/")
    status, body = running.get("/")
    assert status == 200 and text in body, (body, running.output())
    if ws_path:
        socket = running.websocket(ws_path)
        for word in ("ping", "pong"):
            socket.send(word)
            assert socket.receive() == (1, word.encode())
        socket.close()
    if app_name == "django_asgi":
        # Django's static files through ServeStatic, in warp's ASGI module
        status, _ = running.get("/static/admin/css/base.css")
        assert status == 200, running.output()
    assert running.stop() == 0, running.output()
    assert not wait_for_leftovers(running), running.output()


def test_a_fastapi_app_with_no_configuration_is_found_and_served_on_the_default(run_warp):
    app = build_app("fastapi_app", "auto", copy_as="fastapi_auto")
    plan = warp("plan", cwd=app.src, home=app.home).stdout
    for pattern in (
        r"^mode +asgi +because main.py defines app \(an ASGI convention\)$",
        r"^interface +asgi +because main.py defines app \(an ASGI convention\)$",
        r"^server +granian +because the server of the last `warp build`",  # which chose the ASGI default
        r"^lifespan +on +because ",
    ):
        assert re.search(pattern, plan, re.MULTILINE), plan
    running = run_warp(app)
    running.wait_ready("/")
    assert '"lifespan":true' in running.get("/")[1]
    # Granian's access log, written by warp's ASGI module: one line per request, a control character escaped
    running.get("/missing%0Aline")
    wait_for_output(running, r'\] 127\.0\.0\.1 - "GET /missing\\nline HTTP/1\.1" 404 \d+\.\d{3}\n')
    assert re.search(r'^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] 127\.0\.0\.1 - "GET / HTTP/1\.1" 200 ', running.output(), re.M), running.output()


@pytest.mark.parametrize("server", ASGI_SERVERS)
def test_a_failed_startup_is_an_error_and_a_non_zero_exit(server, run_warp):
    app = build_app("fastapi_app", server)
    running = run_warp(app, "--server", server, "--processes", "2", env={"FAIL_STARTUP": "1"})
    code = running.proc.wait(timeout=60)
    assert code != 0, running.output()
    assert "the database is unreachable" in running.output()
    assert not running.is_listening()


@pytest.mark.parametrize("server", ASGI_SERVERS)
def test_sigterm_with_an_open_websocket_stops_within_the_graceful_timeout(server, run_warp):
    app = build_app("fastapi_app", server)
    running = run_warp(app, "--server", server, "--graceful-timeout", "3")
    running.wait_ready("/")
    socket = running.websocket()
    socket.send("hold")
    assert socket.receive() == (1, b"hold")
    started = time.monotonic()
    running.proc.send_signal(signal.SIGTERM)
    code = running.proc.wait(timeout=30)
    took = time.monotonic() - started
    socket.close()
    assert took < 3 + 5, (took, running.output())  # the timeout, and the servers' own second or two to exit
    assert code == 0, running.output()
    assert not wait_for_leftovers(running), running.output()


@pytest.mark.parametrize("server", [s for s in ASGI_SERVERS if s != "granian"])
def test_reload_on_warps_socket_fails_no_request(server, run_warp):
    _, source, running = start_reloading(run_warp, "fastapi_app", server, f"fastapi_reload_{server}", "main.py", "hello from fastapi")
    poller, slow = start_pollers(running)
    edit_in_turn(running, source, r'"hello from [^"]*"', '"hello from edit {n}"', "hello from edit {n}")
    failures = poller.finish() + slow.finish()
    assert failures == [], (failures, running.output())
    assert poller.ok > 3 and slow.ok > 3
    wait_for_output(running, r"( -----> Restarted \S+[^\n]*\n(.*\n)*){3}")
    assert running.stop(signal.SIGINT, timeout=30) == 0, running.output()
    assert not wait_for_leftovers(running), running.output()


def test_granian_reload_restarts_in_turn_and_serves_each_edit(run_warp):
    """Granian takes no socket from warp: the old server stops before the new one binds (requests between are refused)."""
    app = build_app("fastapi_app", "granian", copy_as="fastapi_reload_granian")
    source = app.src / "main.py"
    running = run_warp(app, "--server", "granian", "--reload")
    running.wait_ready("/")
    for n in range(2):
        edit(source, r'"hello from [^"]*"', f'"hello from edit {n}"')
        wait_for_text(running, f"hello from edit {n}")
    assert running.stop(signal.SIGINT, timeout=30) == 0, running.output()
    assert not wait_for_leftovers(running), running.output()


"""hooks/loader.py, the app's one import in the server's process, run as the servers run it: through warp's module."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from warp.hookdir import HOOKS_DIR
from warp.servers import Target
from warp.servers.wrapper import Loading, make_asgi_wrapper_source, make_wrapper_source

FLASKR = '''
def create_app(test_config=None):
    def application(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"made by create_app " + repr(test_config).encode()]
    return application
'''


def serve_once(tmp_path, target: Target, module: str = FLASKR, interface: str = "wsgi") -> subprocess.CompletedProcess:
    """Load ``target`` through warp's generated module and call it once as a WSGI server would."""
    (tmp_path / "flaskr.py").write_text(textwrap.dedent(module))
    loading = Loading(HOOKS_DIR / "loader.py", "gunicorn", interface=interface, marker=tmp_path / "import-failed")
    source = make_wrapper_source(target, loading) if interface == "wsgi" else make_asgi_wrapper_source(target, loading)
    (tmp_path / "warp_probe.py").write_text(source)
    code = (
        "import warp_probe\n"
        "out = warp_probe.application({}, lambda status, headers: None)\n"
        "print(b''.join(out).decode())\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "target, said",
    [
        (Target("module", module="flaskr", callable="create_app", factory="()"), "made by create_app None"),
        (Target("module", module="flaskr", callable="create_app", factory="('prod')"), "made by create_app 'prod'"),
        (Target("module", module="flaskr", callable="create_app", factory="(test_config={'A': 1})"), "made by create_app {'A': 1}"),
        # Named without its parentheses, as users write it for gunicorn: a function that takes no request is a factory.
        (Target("module", module="flaskr", callable="create_app"), "made by create_app None"),
        # The module alone, as `flask --app flaskr` finds it.
        (Target("module", module="flaskr", callable=""), "made by create_app None"),
    ],
    ids=["called", "literal-argument", "keyword", "named-bare", "module-alone"],
)
def test_a_factory_is_called_once_and_its_app_served(tmp_path, target, said):
    result = serve_once(tmp_path, target)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == said


def test_a_wsgi_function_is_the_app_not_a_factory(tmp_path):
    module = '''
    def application(environ, start_response):
        start_response("200 OK", [])
        return [b"the function itself"]

    def create_app():
        raise AssertionError("not called: application comes first")
    '''
    result = serve_once(tmp_path, Target("module", module="flaskr", callable=""), module)
    assert result.stdout.strip() == "the function itself", result.stderr


def test_a_module_with_no_app_says_what_it_looked_for(tmp_path):
    result = serve_once(tmp_path, Target("module", module="flaskr", callable=""), "VALUE = 1\n")
    assert result.returncode == 3
    assert "error: flaskr defines none of application, app, or a factory create_app() or make_app()" in result.stderr


def test_an_asgi_app_started_for_wsgi_stops_with_the_fix(tmp_path):
    module = '''
    async def app(scope, receive, send):
        pass
    '''
    result = serve_once(tmp_path, Target("module", module="flaskr", callable="app"), module)
    assert result.returncode == 3
    assert ("error: the application is ASGI (flaskr:app is an async function), and warp started gunicorn for WSGI\n"
            "       start it with --interface asgi, or with a server that speaks ASGI") in result.stderr


def test_the_error_is_shown_once_per_start(tmp_path):
    """Every worker of a server fails the same way; the first says so, the others end quietly."""
    first = serve_once(tmp_path, Target("module", module="flaskr", callable="app"), "import not_there_xyz\n")
    second = serve_once(tmp_path, Target("module", module="flaskr", callable="app"), "import not_there_xyz\n")
    assert "No module named 'not_there_xyz'" in first.stderr and first.returncode == 3
    assert second.stderr == "" and second.returncode == 0


WEBSOCKET_APPS = {
    "accepted": ("await send({'type': 'websocket.accept'})", 101),
    # Channels' AllowedHostsOriginValidator on a foreign Origin: a close before the accept, which the server answers 403.
    "refused": ("await send({'type': 'websocket.close', 'code': 1000})", 403),
    "denial-response": ("await send({'type': 'websocket.http.response.start', 'status': 401, 'headers': []})", 401),
    "silent": ("return", 403),
}


@pytest.mark.parametrize("body, status", WEBSOCKET_APPS.values(), ids=WEBSOCKET_APPS)
def test_the_access_log_says_how_a_websocket_handshake_ended(tmp_path, body, status):
    (tmp_path / "wsapp.py").write_text(f"async def app(scope, receive, send):\n    {body}\n")
    loading = Loading(HOOKS_DIR / "loader.py", "granian", interface="asgi")
    (tmp_path / "warp_probe.py").write_text(make_asgi_wrapper_source(Target("module", module="wsapp", callable="app"), loading, access_log=True))
    code = textwrap.dedent('''
        import asyncio, warp_probe

        async def main():
            async def receive():
                return {"type": "websocket.connect"}

            async def send(message):
                pass

            await warp_probe.application({"type": "websocket", "path": "/ws", "client": ("127.0.0.1", 5)}, receive, send)

        asyncio.run(main())
    ''')
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert f'"GET /ws HTTP/1.1" {status} ' in line

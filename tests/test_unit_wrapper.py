"""warp.servers.wrapper: the modules warp generates for the servers, compiled and run as the servers run them."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


HOSTILE_DIR = Path("/srv/it's \"odd\"/$(touch x)/back\\slash\nline")
WRAPPER_TARGETS = {
    "module": MODULE,
    "script": SCRIPT,
    "paste": PASTE,
    "module+static": with_static(MODULE),
    "script+static": with_static(SCRIPT),
    "paste+static": with_static(PASTE),
    "hostile-script": Target("script", script=HOSTILE_DIR / "app.wsgi", static_url="/s'/", static_root=HOSTILE_DIR / "static"),
    "hostile-paste": Target("paste", ini=HOSTILE_DIR / "p.ini"),
}


@pytest.mark.parametrize("autorefresh", [False, True])
@pytest.mark.parametrize("target", WRAPPER_TARGETS.values(), ids=WRAPPER_TARGETS)
def test_wrapper_source_compiles(target, autorefresh):
    source = make_wrapper_source(target, LOADING, autorefresh)
    compile(source, "warp_wsgi.py", "exec")
    tree = ast.parse(source)
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assigned = [node.targets[0].id for node in tree.body if isinstance(node, ast.Assign)]
    assert "application" in assigned
    if target.kind == "module":
        assert {target.module, target.callable} <= strings
    elif target.kind == "script":
        assert {str(target.script), target.callable} <= strings
    else:
        assert str(target.ini) in strings
    if target.should_serve_static:
        assert {str(target.static_root), target.static_url} <= strings
        assert f"autorefresh={autorefresh!r}" in source
    else:
        assert "whitenoise" not in source.lower()


@pytest.mark.parametrize("server, expected", [("gunicorn", ("--bind", "fd://7")), ("uwsgi", ("--http-socket", "fd://7")), ("waitress", ("--fd", "7"))])
def test_reload_hands_the_parents_socket_to_the_server(server, expected):
    plan = start(server, MODULE, reload=True, listen_fd=7)
    assert after(plan.argv, expected[0]) == expected[1]
    assert "127.0.0.1:8080" not in " ".join(plan.argv)


@pytest.mark.parametrize("server", ["gunicorn", "uwsgi"])
def test_reload_loads_the_wrapper_that_signals_readiness(server):
    plan = start(server, MODULE, reload=True)
    wrapper = plan.files[RUN / "warp_wsgi.py"]
    assert "_tell_warp(b'1')" in wrapper
    compile(wrapper, "warp_wsgi.py", "exec")
    assert any(arg.startswith("warp_wsgi") for arg in plan.argv)


@pytest.mark.parametrize("body, byte", [("def application(environ, start_response):\n    return []\n", b"1"), ("def broken(:\n", b"0"), ("import no_such_module_here\n", b"0")],
                         ids=["loads", "syntax-error", "import-error"])


def test_wrapper_tells_warp_whether_the_app_loaded(tmp_path, monkeypatch, body, byte):
    (tmp_path / "someapp.py").write_text(body)
    wrapper = tmp_path / "warp_wsgi_probe.py"
    wrapper.write_text(make_wrapper_source(Target("module", module="someapp"), LOADING, signal_ready=True))
    read, write = os.pipe()
    monkeypatch.setenv("WARP_READY_FD", str(write))
    code = "import warp_wsgi_probe"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
                            pass_fds=(write,), capture_output=True, text=True)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read() == byte
    assert (result.returncode == 0) == (byte == b"1")
    if byte == b"0":  # the app's own error, marked as the app's, and warp's one line; the code gunicorn halts on
        assert "--- traceback from the application (not from warp) ---" in result.stderr
        assert "error: the application failed to import: someapp" in result.stderr and result.returncode == 3


WRAPPER_SOURCES = {
    "wsgi": wsgi,
    "wsgi-reload": functools.partial(wsgi, signal_ready=True),
    "asgi": asgi,
    "asgi-reload": functools.partial(asgi, signal_ready=True),
}


@pytest.mark.parametrize("make_source", WRAPPER_SOURCES.values(), ids=WRAPPER_SOURCES)
def test_wrapper_freezes_what_the_apps_import_made_and_nothing_after(tmp_path, make_source):
    """gc.freeze() once the app is imported: the collector's full passes skip the import's objects from then on."""
    app = "async def application(scope, receive, send):" if getattr(make_source, "func", make_source) is asgi else "def application(environ, start_response):"
    (tmp_path / "someapp.py").write_text(f"IMPORTED = [[n] for n in range(1000)]\n{app}\n    pass\n")
    (tmp_path / "warp_wsgi_probe.py").write_text(make_source(Target("module", module="someapp")))
    code = (
        "import gc, warp_wsgi_probe, someapp\n"
        "later = [[n] for n in range(1000)]\n"
        "walked = {id(o) for o in gc.get_objects()}\n"  # what the collector walks: frozen objects are left out
        "print(id(someapp.IMPORTED) in walked, id(later) in walked)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
                            capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"], result.stdout  # the app's list frozen, one made later not


def test_mod_wsgi_reload_runs_embedded_with_the_signalling_wrapper():
    plan = start("mod_wsgi", with_static(MODULE), reload=True)
    setup = plan.prepare[0]
    assert "--embedded-mode" in setup
    assert after(setup, "--entry-point") == "warp_wsgi"
    assert contains_run(setup, ["--python-path", str(RUN)])
    wrapper = plan.files[RUN / "warp_wsgi.py"]
    assert "_tell_warp(b'1')" in wrapper and "whitenoise" not in wrapper.lower()  # Apache serves the static files itself
    assert "--url-alias" in setup
    production = start("mod_wsgi", with_static(MODULE)).prepare[0]
    assert "--embedded-mode" not in production and after(production, "--entry-point") == "warp_wsgi"
    assert "--initial-workers" not in setup  # embedded: Apache's children are the app's processes


def test_reload_defaults_to_one_process_unless_asked():
    assert after(start("gunicorn", MODULE, reload=True).argv, "--workers") == "1"
    assert after(start("gunicorn", MODULE, reload=True, flags={"processes": "3"}).argv, "--workers") == "3"

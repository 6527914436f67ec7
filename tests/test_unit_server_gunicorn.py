"""warp.servers.gunicorn: the gunicorn (WSGI, and ASGI through uvicorn's worker) adapter's command, stop, static files and sockets for a resolved launch; pure."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


def test_gunicorn_before_its_asgi_worker_is_an_error():
    with pytest.raises(UsageError) as caught:
        find_server(make_settings({"server": "gunicorn"}), make_project(), {"gunicorn": "23.0.0"}, None, "asgi", "x")
    assert caught.value.message.startswith("gunicorn 23.0.0 has no stable ASGI worker (it came in 25.1)")


def test_gunicorn_asgi_argv():
    plan = asgi_plan("gunicorn", flags={"threads": "8"})
    argv = plan.argv
    assert after(argv, "--worker-class") == "asgi" and "--threads" not in argv and after(argv, "--asgi-lifespan") == "auto"
    assert argv[-1] == "warp_asgi:application" and plan.stop.kind == "exec"
    assert "--threads is not used" in dict((d.name, d.because) for d in plan.decisions)["processes x threads"]


def test_gunicorn_asgi_before_27_exits_on_a_failed_startup_through_warps_module():
    plan = asgi_plan("gunicorn", versions={"gunicorn": "25.1.0"})
    assert plan.argv[-1] == "warp_asgi:application" and "exit_on_failure = True" in plan.files[RUN / "warp_asgi.py"]


def test_gunicorn_asgi_reload_takes_warps_socket():
    assert after(asgi_plan("gunicorn", reload=True, listen_fd=9).argv, "--bind") == "fd://9"


def test_gunicorn_module():
    plan = start("gunicorn", MODULE, flags={"processes": "3"})
    argv = plan.argv
    assert argv[0] == str(ENV / "bin/gunicorn")
    assert after(argv, "--bind") == "127.0.0.1:8080"
    assert after(argv, "--workers") == "3"
    assert after(argv, "--threads") == "4"
    assert after(argv, "--worker-class") == "gthread"
    assert after(argv, "--graceful-timeout") == "30"
    assert after(argv, "--chdir") == str(ROOT)
    assert after(argv, "--pythonpath") == f"{RUN},{ROOT}"
    assert argv[-1] == "warp_wsgi:application"  # the app is loaded by warp's module, which checks it and shows its errors
    assert loads(plan, "module", "wsgiapp", "wsgi_app")
    assert "--paste" not in argv and "--no-control-socket" not in argv
    assert plan.prepare == ()
    assert plan.stop == Stop("exec", timeout=30.0)


def test_gunicorn_one_thread_uses_the_sync_worker():
    argv = start("gunicorn", MODULE, flags={"threads": "1"}).argv
    assert after(argv, "--threads") == "1"
    assert "--worker-class" not in argv


def test_gunicorn_paste():
    plan = start("gunicorn", PASTE)
    assert loads(plan, "paste", str(ROOT / "production.ini"), "application")
    assert "--paste" not in plan.argv and plan.argv[-1] == "warp_wsgi:application"


@pytest.mark.parametrize("target", [with_static(MODULE), SCRIPT, with_static(SCRIPT), with_static(PASTE)], ids=["module+static", "script", "script+static", "paste+static"])
@pytest.mark.parametrize("reload", [False, True])
def test_gunicorn_wrapper_module(target, reload):
    plan = start("gunicorn", target, reload=reload)
    wrapper = RUN / "warp_wsgi.py"
    report = HOOKS / "_common.py" if reload else None  # under --reload it lists the modules it loaded for a warm parent
    loading = Loading(HOOKS / "loader.py", "gunicorn", marker=RUN / "import-failed-0", reload=reload, python_path=(ROOT,))
    assert plan.files == {wrapper: make_wrapper_source(target, loading, reload, signal_ready=reload, report_modules=report)}
    assert plan.argv[-1] == "warp_wsgi:application"
    assert after(plan.argv, "--pythonpath").split(",") == [str(RUN), str(ROOT)]
    assert "--paste" not in plan.argv
    if target.should_serve_static:
        assert f"autorefresh={reload!r}" in plan.files[wrapper]
        # WhiteNoise gives a hashed name a 10-year immutable Cache-Control and serves the .gz/.br copies itself.
        assert f"immutable_file_test={HASHED_STATIC_NAME!r}" in plan.files[wrapper]


@pytest.mark.parametrize(
    "version, expected",
    [("25.1", True), ("25.1.0", True), ("25.2.1", True), ("26.0", True), ("25.0.0", False), ("23.0.0", False), (None, False)],
)


def test_gunicorn_control_socket_flag_only_from_25_1(version, expected):
    versions = {"gunicorn": version} if version else {"django": "5.0"}
    assert ("--no-control-socket" in start("gunicorn", MODULE, versions=versions).argv) is expected


@pytest.mark.parametrize(
    "case, kwargs, expected",
    [
        ("several workers on a port", {"flags": {"processes": "2"}}, True),
        ("gunicorn 23 shares one socket anyway", {"flags": {"processes": "2"}, "versions": {"gunicorn": "23.0.0"}}, False),
        ("one worker", {"flags": {"processes": "1"}}, False),
        ("a Unix socket", {"flags": {"processes": "2", "socket": "/run/blog/app.sock"}}, False),
        ("a socket inherited from warp", {"flags": {"processes": "2"}, "listen_fd": 3}, False),
    ],
)


def test_gunicorn_reuse_port_gives_each_worker_its_own_socket(case, kwargs, expected):
    """From gunicorn 24, --reuse-port makes a SO_REUSEPORT socket per worker, so the kernel balances connections."""
    kwargs.setdefault("versions", {"gunicorn": "24.0.0"})
    assert ("--reuse-port" in start("gunicorn", MODULE, **kwargs).argv) is expected, case


def test_gunicorn_prerelease_before_25_1_has_no_control_socket_flag():
    assert "--no-control-socket" not in start("gunicorn", MODULE, versions={"gunicorn": "25.0rc1"}).argv


def test_gunicorn_ipv6_and_timeout():
    argv = start("gunicorn", MODULE, flags={"host": "::1", "graceful_timeout": "12"}).argv
    assert after(argv, "--bind") == "[::1]:8080"
    assert after(argv, "--graceful-timeout") == "12"


def test_gunicorn_extra_server_args():
    project = make_project(server_args={"": ("--log-level", "debug"), "gunicorn": ("--timeout", "60"), "uwsgi": ("--nope",)})
    plan = start("gunicorn", MODULE, project=project)
    assert contains_run(plan.argv, ["--log-level", "debug", "--timeout", "60"])
    assert "--nope" not in plan.argv
    assert {d.name: d.value for d in plan.decisions}["extra server args"] == "--log-level debug --timeout 60"


def test_gunicorn_on_a_socket_speaks_http():
    plan = start("gunicorn", MODULE, flags={"socket": SOCK})
    assert after(plan.argv, "--bind") == f"unix:{SOCK}"
    assert plan.socket_protocol == "http"

"""warp.servers: what holds for every adapter (stop timeouts, sockets, containers, static files); each adapter's own tests are in test_unit_server_NAME.py; pure."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


def test_start_plan_common_fields():
    plan = start("gunicorn", MODULE, flags={"port": "9000"})
    assert (plan.mode, plan.server, plan.host, plan.port, plan.cwd) == ("wsgi", "gunicorn", "127.0.0.1", 9000, ROOT)
    assert plan.environ["PORT"] == "9000" and plan.environ["WARP_HTTP_PORT"] == "9000"
    assert plan.environ["WARP_HTTP_HOST"] == "127.0.0.1" and plan.environ["PATH"] == "/usr/bin"
    assert plan.masked == frozenset({"SECRET"})
    decisions = {d.name: (d.value, d.because) for d in plan.decisions}
    assert decisions["port"] == ("9000", "from --port")
    assert decisions["server"] == ("gunicorn", "from --server")
    assert decisions["application"] == ("wsgiapp:wsgi_app", "from --app")
    assert decisions["processes x threads"][0] == "4 x 4"
    assert decisions["graceful timeout"] == ("30s", "from default")


def test_start_plan_shell_and_python_modes():
    shell = start("gunicorn", None, mode=Mode("shell", "app.sh is present and executable"))
    assert (shell.argv, shell.server, shell.cwd, shell.stop) == ((str(ROOT / "app.sh"),), None, ROOT, Stop("signal", signal="SIGTERM", timeout=30))
    python = start("gunicorn", None, mode=Mode("python", "app.py is present"), flags={"port": "5000"})
    assert python.argv == (str(ENV / "bin/python"), "app.py")
    assert python.server is None and python.environ["PORT"] == "5000"


@pytest.mark.parametrize("server", list(servers.ADAPTERS))
def test_fractional_graceful_timeout_is_rounded_up_for_every_server_and_said(server):
    """gunicorn rejects --graceful-timeout 12.5 (`invalid int value`) and so would every export that repeats it."""
    plan = start(server, MODULE, flags={"graceful_timeout": "12.5"})
    words = list(plan.argv) + [word for argv in plan.prepare for word in argv]
    assert "12.5" not in words
    timeouts = [after(words, flag) for flag in ("--graceful-timeout", "--shutdown-timeout") if flag in words]
    assert all(value == "13" for value in timeouts)
    assert plan.stop.timeout == 13
    decision = next(d for d in plan.decisions if d.name == "graceful timeout")
    assert decision.value == "13s" and "12.5s rounded up to whole seconds" in decision.because


def test_default_socket_behind_nginx_only_for_uwsgi():
    assert servers.ADAPTERS["uwsgi"].default_socket("blog") == Path(SOCK)
    assert [name for name, adapter in servers.ADAPTERS.items() if adapter.default_socket("blog")] == ["uwsgi"]
    assert start("uwsgi", MODULE, default_socket=Path(SOCK)).socket == Path(SOCK)
    assert after(start("gunicorn", MODULE).argv, "--bind") == "127.0.0.1:8080"


@pytest.mark.parametrize("server", ["waitress", "mod_wsgi"])
def test_servers_without_unix_sockets_refuse_one(server):
    with pytest.raises(UsageError, match=f"{server} cannot listen on a Unix socket"):
        start(server, MODULE, flags={"socket": SOCK})


def test_socket_and_reload_do_not_mix():
    with pytest.raises(UsageError, match="--reload serves on host:port"):
        start("uwsgi", MODULE, flags={"socket": SOCK}, reload=True)


@pytest.mark.parametrize("raw", ["relative.sock", "/" + "x" * 120])
def test_socket_paths_must_be_absolute_and_short(raw):
    with pytest.raises(UsageError, match="socket from --socket"):
        make_settings({"socket": raw})


@pytest.mark.parametrize("server", sorted(servers.ADAPTERS))
def test_container_listens_everywhere(server):
    machine = WORKSTATION._replace(in_container=True)
    plan = start(server, MODULE, machine=machine)
    assert plan.host == "0.0.0.0"
    listen = list(plan.argv) + list(plan.prepare[0] if plan.prepare else ())
    assert "0.0.0.0:8080" in listen or ("0.0.0.0" in listen and after(listen, "--port") == "8080")


@pytest.mark.parametrize(
    "url, hashed",
    [
        ("/static/site.0123456789ab.css", True),
        ("/static/admin/js/core.3f2d1c0b9a87.js", True),
        ("/static/site.css", False),
        ("/static/jquery.min.js", False),
        ("/static/site.0123456789abc.css", False),
        ("/static/site.0123456789AB.css", False),
    ],
)


def test_hashed_static_name_is_djangos_manifest_name(url, hashed):
    assert bool(re.search(HASHED_STATIC_NAME, url)) is hashed


APP_SERVES_STATIC = dataclasses.replace(with_static(MODULE), app_serves_static=True)


@pytest.mark.parametrize("reload", [False, True])
@pytest.mark.parametrize("server", sorted(servers.ADAPTERS))
def test_an_app_with_whitenoise_middleware_gets_no_static_serving_from_warp(server, reload):
    plan = start(server, APP_SERVES_STATIC, reload=reload)
    words = [*plan.argv, *(word for argv in plan.prepare for word in argv)]
    for flag in ("--static-map", "--static-gzip-all", "--response-route-if", "--url-alias", "--include-file", "--static-url"):
        assert flag not in words
    assert "_static" not in generated_module(plan)
    assert not any("whitenoise" in text.lower() for text in plan.files.values())
    decisions = {d.name: (d.value, d.because) for d in plan.decisions}
    assert decisions["static files"] == (
        f"/static/ -> {STATIC_ROOT}",
        "from Django's STATIC_URL/STATIC_ROOT; served by the app: its WhiteNoise middleware "
        "(whitenoise.middleware.WhiteNoiseMiddleware in MIDDLEWARE), so warp adds none",
    )
    assert plan.static_root == STATIC_ROOT  # known still: the reloader must not watch what collectstatic writes


@pytest.mark.parametrize("server", sorted(servers.ADAPTERS))
def test_static_files_decision_names_what_serves_them_and_how(server):
    because = {d.name: d.because for d in start(server, with_static(MODULE)).decisions}["static files"]
    assert because == (
        f"from Django's STATIC_URL/STATIC_ROOT; served by {servers.ADAPTERS[server].static_server}: "
        "hashed names cached for good (immutable), .gz/.br copies to clients that accept them"
    )


@pytest.mark.parametrize("server", ["uwsgi", "mod_wsgi"])
def test_a_server_that_maps_static_files_on_its_command_line_never_loads_whitenoise(server):
    """uWSGI and mod_wsgi install no WhiteNoise: a Django project whose last build found no STATIC_URL only has its
    module check the settings it runs with, as with one."""
    django = Target("django", module="mysite.wsgi", callable="application", django=True, static_fallback=ENV / ".warp" / "static")
    module = generated_module(start(server, django))
    assert "whitenoise" not in module.lower()
    assert "_warp.check_django_static(None, None, " in module

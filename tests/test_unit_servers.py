"""warp.servers: each adapter's command, stop, static files and sockets for a resolved launch; pure."""

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


def test_gunicorn_extra_server_args():
    project = make_project(server_args={"": ("--log-level", "debug"), "gunicorn": ("--timeout", "60"), "uwsgi": ("--nope",)})
    plan = start("gunicorn", MODULE, project=project)
    assert contains_run(plan.argv, ["--log-level", "debug", "--timeout", "60"])
    assert "--nope" not in plan.argv
    assert {d.name: d.value for d in plan.decisions}["extra server args"] == "--log-level debug --timeout 60"


def test_mod_wsgi_module():
    plan = start("mod_wsgi", MODULE, flags={"processes": "2"})
    (setup,) = plan.prepare
    assert setup[:2] == (str(ENV / "bin/mod_wsgi-express"), "setup-server")
    assert after(setup, "--application-type") == "module"
    assert after(setup, "--entry-point") == "warp_wsgi"  # warp's module loads the app and checks it
    assert after(setup, "--callable-object") == "application"
    assert loads(plan, "module", "wsgiapp", "wsgi_app")
    server_root = Path("/tmp/warp-0/0123456789ab") / "mod_wsgi-8080"  # short: Apache puts its sockets there
    assert after(setup, "--server-root") == str(server_root)
    assert after(setup, "--host") == "127.0.0.1" and after(setup, "--port") == "8080"
    assert after(setup, "--processes") == "2" and after(setup, "--threads") == "4"
    assert after(setup, "--working-directory") == str(ROOT)
    assert contains_run(setup, ["--python-path", str(RUN), "--python-path", str(ROOT)])
    assert "--log-to-terminal" in setup
    assert after(setup, "--initial-workers") == "1.0" and after(setup, "--maximum-spare-workers") == "1.0"  # no child retired under load
    assert after(setup, "--server-mpm") == "worker"  # a thread per connection: no keep-alive connection closed under load
    assert "--url-alias" not in setup and "--user" not in setup and "--group" not in setup
    assert plan.argv == (str(server_root / "apachectl"), "start", "-DFOREGROUND")
    assert plan.stop == Stop("signal", signal="SIGWINCH", timeout=30.0, reload="SIGUSR1", reload_processes="(wsgi:")


@pytest.mark.parametrize("processes, threads, expected", [(1, 5, 100), (5, 5, 100), (8, 5, 160), (10, 10, 400)])
def test_mod_wsgi_max_clients(processes, threads, expected):
    (setup,) = start("mod_wsgi", MODULE, flags={"processes": str(processes), "threads": str(threads)}).prepare
    max_clients = int(after(setup, "--max-clients"))
    assert max_clients >= 4 * processes * threads
    assert max_clients == expected


@pytest.mark.parametrize("url, alias", [("/static/", "/static"), ("/assets", "/assets"), ("/", "/")])
def test_mod_wsgi_static_url_alias(url, alias):
    (setup,) = start("mod_wsgi", with_static(MODULE, url)).prepare
    assert after(setup, "--url-alias", 2) == (alias, str(STATIC_ROOT))


@pytest.mark.parametrize("reload", [False, True])
def test_mod_wsgi_static_files_get_cache_control_and_precompressed_copies(reload):
    plan = start("mod_wsgi", with_static(MODULE, "/assets"), reload=reload)
    (setup,) = plan.prepare
    conf_path = RUN / "apache-static.conf"
    assert after(setup, "--include-file") == str(conf_path)
    conf = plan.files[conf_path]
    assert f"<Directory '{STATIC_ROOT}'>" in conf
    for line in (
        # The .br, else the .gz copy when the client takes it; mod_mime names its encoding, the type stays the file's.
        "RemoveType .gz .br", "AddEncoding gzip .gz", "AddEncoding br .br",
        "RewriteEngine On", "RewriteBase /assets/",
        r"RewriteCond %{HTTP:Accept-Encoding} \bbr\b", "RewriteCond %{REQUEST_FILENAME}.br -f", "RewriteRule ^(.+)$ $1.br [L]",
        r"RewriteCond %{HTTP:Accept-Encoding} \bgzip\b", "RewriteCond %{REQUEST_FILENAME}.gz -f", "RewriteRule ^(.+)$ $1.gz [L]",
        "Header merge Vary Accept-Encoding",
        'Header set Cache-Control "max-age=60, public"',
        r'<FilesMatch "\.[0-9a-f]{12}\.\w+(\.gz|\.br)?$">',
        'Header set Cache-Control "max-age=315360000, public, immutable"',
    ):
        assert f"\n    {line}\n" in conf or f"\n        {line}\n" in conf, line
    assert "--include-file" not in start("mod_wsgi", MODULE).prepare[0]


def test_mod_wsgi_apache_user():
    plan = start("mod_wsgi", MODULE, run_user=("www-data", "www-data"))
    (setup,) = plan.prepare
    assert after(setup, "--user") == "www-data" and after(setup, "--group") == "www-data"
    assert {d.name: d.value for d in plan.decisions}["server user"] == "www-data"


def test_mod_wsgi_script_and_paste():
    for target, kind, where, name in ((SCRIPT, "script", str(SCRIPT.script), "app"), (PASTE, "paste", str(PASTE.ini), "application")):
        plan = start("mod_wsgi", target)
        assert after(plan.prepare[0], "--application-type") == "module" and after(plan.prepare[0], "--entry-point") == "warp_wsgi"
        assert loads(plan, kind, where, name)


@pytest.mark.parametrize("timeout, shutdown, stop", [("60", "30", 60), ("12.5", "13", 13), ("30", "30", 30)])
def test_mod_wsgi_shutdown_timeout(timeout, shutdown, stop):
    plan = start("mod_wsgi", MODULE, flags={"graceful_timeout": timeout})
    assert after(plan.prepare[0], "--shutdown-timeout") == shutdown
    assert plan.stop.timeout == stop


def test_uwsgi_module():
    plan = start("uwsgi", MODULE, flags={"processes": "3", "threads": "2"})
    argv = plan.argv
    fifo = RUN / "uwsgi-8080.fifo"
    assert argv[0] == str(ENV / "bin/uwsgi")
    for flag in ("--master", "--die-on-term", "--need-app", "--enable-threads"):
        assert flag in argv
    assert after(argv, "--http-socket") == "127.0.0.1:8080"
    assert after(argv, "--processes") == "3" and after(argv, "--threads") == "2"
    assert after(argv, "--master-fifo") == str(fifo)
    assert after(argv, "--virtualenv") == str(ENV)
    assert after(argv, "--chdir") == str(ROOT)
    assert contains_run(argv, ["--pythonpath", str(RUN), "--pythonpath", str(ROOT)])
    assert after(argv, "--module") == "warp_wsgi:application" and loads(plan, "module", "wsgiapp", "wsgi_app")
    assert "--static-map" not in argv
    assert plan.stop == Stop("fifo", path=fifo, command="q", timeout=30.0)


def test_uwsgi_script_paste_static():
    assert loads(start("uwsgi", SCRIPT), "script", str(SCRIPT.script), "app")
    assert loads(start("uwsgi", PASTE), "paste", str(ROOT / "production.ini"), "application")
    plan = start("uwsgi", with_static(MODULE))
    assert after(plan.argv, "--static-map") == f"/static={STATIC_ROOT}"
    assert "whitenoise" not in generated_module(plan).lower()  # uWSGI serves them itself


@pytest.mark.parametrize("url, prefix", [("/static/", "/static/"), ("/assets", "/assets/"), ("/", "/")])
def test_uwsgi_static_files_get_cache_control_and_precompressed_copies(url, prefix):
    argv = start("uwsgi", with_static(MODULE, url)).argv
    assert "--static-gzip-all" in argv  # FILE.br, else FILE.gz, when the client accepts it
    # Only on what the static map answered (200, or 304 to a conditional request), never on the app's 404.
    served = "regexp:${uwsgi[status]}${PATH_INFO};^(200|304)" + prefix
    assert routes(argv) == [
        served + r".*\.[0-9a-f]{12}\.\w+$ addheader:Cache-Control: max-age=315360000, public, immutable",
        served + r"(?!.*\.[0-9a-f]{12}\.\w+$) addheader:Cache-Control: max-age=60, public",
        served + " addheader:Vary: Accept-Encoding",
    ]
    assert not routes(start("uwsgi", MODULE).argv) and "--static-gzip-all" not in start("uwsgi", MODULE).argv


def test_uwsgi_fifo_per_port_and_extra_args():
    project = make_project(server_args={"uwsgi": ("--harakiri", "30")})
    plan = start("uwsgi", MODULE, flags={"port": "9100"}, project=project)
    assert plan.stop.path == RUN / "uwsgi-9100.fifo" == Path(after(plan.argv, "--master-fifo"))
    assert contains_run(plan.argv, ["--harakiri", "30"])


SOCK = "/run/warp/blog/uwsgi.sock"


def test_uwsgi_on_a_socket_speaks_the_uwsgi_protocol_with_the_web_servers_group():
    plan = start("uwsgi", MODULE, flags={"socket": SOCK}, socket_owner=("root", "www-data"))
    assert "--http-socket" not in plan.argv
    assert after(plan.argv, "--socket") == SOCK
    assert "--chmod-socket=660" in plan.argv and after(plan.argv, "--chown-socket") == "root:www-data"
    assert (plan.socket, plan.socket_protocol) == (Path(SOCK), "uwsgi")
    assert {d.name: d.value for d in plan.decisions}["socket"] == SOCK


def test_uwsgi_socket_without_root_is_open_to_the_web_servers_user():
    argv = start("uwsgi", MODULE, environ={"WARP_SOCKET": SOCK}).argv
    assert "--chmod-socket=666" in argv and "--chown-socket" not in argv


def test_gunicorn_on_a_socket_speaks_http():
    plan = start("gunicorn", MODULE, flags={"socket": SOCK})
    assert after(plan.argv, "--bind") == f"unix:{SOCK}"
    assert plan.socket_protocol == "http"


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


def test_waitress_module():
    plan = start("waitress", MODULE, flags={"processes": "4"})
    argv = plan.argv
    assert argv[:2] == (str(ENV / "bin/python"), str(HOOKS / "waitress_serve.py"))
    assert after(argv, "--listen") == "127.0.0.1:8080"
    assert after(argv, "--threads") == "4"
    assert after(argv, "--processes") == "4"
    assert after(argv, "--script") == str(RUN / "warp_wsgi.py") and after(argv, "--callable") == "application"
    assert loads(plan, "module", "wsgiapp", "wsgi_app")
    assert "--static-url" not in argv and "--autorefresh" not in argv
    assert plan.stop == Stop("exec", timeout=30.0)
    assert {d.name: d.value for d in plan.decisions}["processes x threads"] == "4 x 4"


def test_waitress_script_paste_static_reload():
    assert loads(start("waitress", SCRIPT), "script", str(SCRIPT.script), "app")
    assert loads(start("waitress", PASTE), "paste", str(PASTE.ini), "application")
    plan = start("waitress", with_static(MODULE), reload=True)
    module = generated_module(plan)
    assert "_static = ('/static/', " + repr(str(STATIC_ROOT)) + ")" in module
    assert f"immutable_file_test={HASHED_STATIC_NAME!r}" in module and "autorefresh=True" in module
    assert "--autorefresh" in plan.argv
    assert "WhiteNoise" not in generated_module(start("waitress", MODULE))


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

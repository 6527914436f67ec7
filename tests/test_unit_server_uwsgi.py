"""warp.servers.uwsgi: the uWSGI adapter's command, stop, static files and sockets for a resolved launch; pure."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


def test_uwsgi_build_needs_pcre_for_the_static_routes_and_says_what_to_install(tmp_path):
    """Without pcre2-config uWSGI compiles without routing and then refuses --response-route-if at start."""
    uwsgi = servers.ADAPTERS["uwsgi"]
    with pytest.raises(StepFailed) as failed:
        uwsgi.check_build({"PATH": make_tools(tmp_path / "bin", "gcc")})
    assert "without PCRE" in failed.value.message and "libpcre2-dev" in failed.value.hint
    uwsgi.check_build({"PATH": make_tools(tmp_path / "bin", "gcc", "pcre2-config")})
    with pytest.raises(StepFailed, match="no C compiler"):
        uwsgi.check_build({"PATH": make_tools(tmp_path / "empty")})


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

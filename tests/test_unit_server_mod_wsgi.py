"""warp.servers.mod_wsgi: the mod_wsgi-express adapter's command, stop, static files and sockets for a resolved launch; pure."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


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

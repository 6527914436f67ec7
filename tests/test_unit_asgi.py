"""ASGI: detection, the WSGI/ASGI decision, what the ASGI servers share (static files, sockets, warm reloads); each server's command is in test_unit_server_NAME.py; pure."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


ASGI_DETECTION = [
    # markers, settings/project, expected (name, target spec, interface, because fragment)
    ({"asgi_modules": (("asgi", "application"), ("main", "app"))}, {}, ("asgi", "asgi:application", "asgi", "asgi.py defines application")),
    ({"asgi_modules": (("main", "app"),)}, {}, ("asgi", "main:app", "asgi", "main.py defines app")),
    ({"asgi_modules": (("app.main", "app"),)}, {}, ("asgi", "app.main:app", "asgi", "app/main.py defines app")),
    # warpdrive's order comes first: wsgi.py beats main.py
    ({"asgi_modules": (("main", "app"),), "wsgi_py": True, "wsgi_py_has_application": True}, {}, ("wsgi", "wsgi:application", "wsgi", "wsgi.py")),
    # Django: WSGI unless the project asks for ASGI
    ({"manage_py": True, "django_settings": "mysite.settings", "django_asgi": True}, {}, ("django", None, "wsgi", "DJANGO_SETTINGS_MODULE")),
    ({"manage_py": True, "django_settings": "mysite.settings", "django_asgi": True}, {"requirements_text": "Django\nuvicorn\n"},
     ("django", "mysite.asgi:application", "asgi", "uvicorn (an ASGI server) is among the dependencies")),
    ({"manage_py": True, "django_settings": "mysite.settings", "django_asgi": True}, {"requirements_text": "Django\nchannels>=4\n"},
     ("django", "mysite.asgi:application", "asgi", "channels (an ASGI framework)")),
    ({"manage_py": True, "django_settings": "mysite.settings", "django_asgi": True}, {"tool": {"interface": "asgi"}},
     ("django", "mysite.asgi:application", "asgi", "interface asgi from [tool.warp] interface")),
    # gunicorn speaks both: it is no sign of ASGI
    ({"manage_py": True, "django_settings": "mysite.settings", "django_asgi": True}, {"requirements_text": "Django\ngunicorn\n"}, ("django", None, "wsgi", "")),
]


@pytest.mark.parametrize("markers, project, expected", ASGI_DETECTION, ids=[f"{i}-{row[2][0]}" for i, row in enumerate(ASGI_DETECTION)])
def test_asgi_entry_points_come_after_warpdrives_order(markers, project, expected):
    facts = make_project(**project)
    mode = find_mode(make_app(**markers), make_settings(tool=facts.tool), facts)
    name, spec, interface, because = expected
    assert (mode.name, mode.target.spec if mode.target else None, mode.interface) == (name, spec, interface)
    assert because in mode.because


def test_django_asked_for_asgi_without_asgi_py_is_an_error():
    with pytest.raises(UsageError) as caught:
        find_mode(make_app(manage_py=True, django_settings="mysite.settings"), make_settings({"interface": "asgi"}), make_project())
    assert caught.value.message == "the project asks for ASGI (interface asgi from --interface) but mysite/asgi.py is missing"


def test_named_app_has_no_interface_until_the_apps_interpreter_says():
    mode = find_mode(make_app(), make_settings({"app": "main:app"}))
    assert (mode.name, mode.interface) == ("wsgi", None)


INTERFACES = [
    # settings flags, mode interface, asks_asgi -> interface, because fragment
    ({"interface": "wsgi"}, "asgi", "x", "wsgi", "from --interface"),
    ({}, "asgi", None, "asgi", "main.py defines app"),
    ({}, "wsgi", "fastapi (an ASGI framework) is among the dependencies", "wsgi", "main.py defines app"),
    ({}, None, "fastapi (an ASGI framework) is among the dependencies", "asgi", "fastapi"),
    ({}, None, None, "wsgi", "no sign of ASGI"),
]


@pytest.mark.parametrize("flags, mode_interface, asks, interface, because", INTERFACES)
def test_interface_precedence(flags, mode_interface, asks, interface, because):
    """From flags and files only: the server's module checks the app where it loads it (hooks/loader.py)."""
    mode = Mode("asgi", "main.py defines app", Target("module", module="main", callable="app"), mode_interface)
    found = find_interface(make_settings(flags), mode, asks)
    assert found[0] == interface and because in found[1]


SERVER_FOR_INTERFACE = [
    # requirements, record, interface -> server
    ("fastapi\n", None, "asgi", "granian"),
    ("fastapi\nuvicorn[standard]\n", None, "asgi", "uvicorn"),
    ("fastapi\nhypercorn\n", None, "asgi", "hypercorn"),
    ("fastapi\ngranian[reload]\n", None, "asgi", "granian"),
    ("fastapi\ngunicorn\nuvicorn-worker\n", None, "asgi", "gunicorn"),
    ("flask\nwaitress\n", None, "asgi", "granian"),  # waitress cannot serve ASGI: the ASGI default
    ("flask\n", {"server": "waitress", "servers_named": []}, "asgi", "granian"),  # nor can the last build's server
    ("flask\n", {"server": "uvicorn", "servers_named": []}, "wsgi", "gunicorn"),
    ("flask\n", None, "wsgi", "gunicorn"),
]


@pytest.mark.parametrize("requirements, record, interface, server", SERVER_FOR_INTERFACE)
def test_auto_picks_a_server_that_speaks_the_interface(requirements, record, interface, server):
    assert find_server(make_settings(), make_project(requirements_text=requirements), {}, record, interface)[0] == server


@pytest.mark.parametrize("server", ["uwsgi", "mod_wsgi", "waitress"])
def test_a_wsgi_only_server_for_an_asgi_app_is_an_error_naming_what_works(server):
    with pytest.raises(UsageError) as caught:
        find_server(make_settings({"server": server}), make_project(), {}, None, "asgi", "main.py defines app")
    assert caught.value.message == (
        f"{server} serves WSGI applications only, and the application is ASGI (main.py defines app); server from --server"
    )
    assert caught.value.hint == "use --server gunicorn or uvicorn or granian or hypercorn, or leave the server to warp"


@pytest.mark.parametrize("server", ["uvicorn", "granian", "hypercorn"])
def test_an_asgi_server_for_a_wsgi_app_is_an_error(server):
    with pytest.raises(UsageError) as caught:
        find_server(make_settings({"server": server}), make_project(), {}, None, "wsgi", "wsgi.py defines application")
    assert caught.value.message.startswith(f"{server} serves ASGI applications only, and the application is WSGI")
    assert caught.value.hint == "use --server mod_wsgi or gunicorn or uwsgi or waitress, or leave the server to warp"


DJANGO_ASGI = Target("module", module="mysite.asgi", static_url="/static/", static_root=STATIC_ROOT, django=True)


def test_django_asgi_has_no_lifespan_and_servestatic_serves_its_static_files():
    mode = Mode("django", "manage.py sets DJANGO_SETTINGS_MODULE=mysite.settings", DJANGO_ASGI, "asgi")
    for server, flag, value in (("uvicorn", "--lifespan", "off"), ("gunicorn", "--asgi-lifespan", "off"), ("granian", "--interface", "asginl")):
        plan = asgi_plan(server, DJANGO_ASGI, mode)
        assert after(plan.argv, flag) == value
        source = next(iter(plan.files.values()))
        # The static files settings the app runs with, read where the server loads it.
        assert "_static = _warp.find_django_static(" in source and "ServeStaticASGI(application, root=_static[1], prefix=_static[0]" in source
        assert "lifespan" not in source.split("_app = application")[1]  # off: ready once imported
        assert dict((d.name, d.value) for d in plan.decisions)["lifespan"] == "off"


def test_asgi_servers_install_servestatic_and_gunicorn_adds_it_for_asgi_only():
    assert "servestatic" in servers.ADAPTERS["gunicorn"].find_packages("asgi")
    assert "servestatic" not in servers.ADAPTERS["gunicorn"].find_packages("wsgi")
    assert servers.ADAPTERS["uvicorn"].find_packages("asgi")[0] == "uvicorn"


@pytest.mark.parametrize("server, expected", [("uvicorn", ["--uds", "/run/app.sock"]), ("hypercorn", ["--bind", "unix:/run/app.sock"]),
                                              ("granian", ["--uds", "/run/app.sock"]), ("gunicorn", ["--bind", "unix:/run/app.sock"])])


def test_asgi_servers_listen_on_a_unix_socket(server, expected):
    plan = asgi_plan(server, flags={"socket": "/run/app.sock"})
    assert contains_run(plan.argv, expected) and "--port" not in plan.argv and plan.socket_protocol == "http"


@pytest.mark.parametrize(
    "server, environ, warm, because",
    [
        ("gunicorn", {}, True, "a parked process holds gunicorn"),
        ("waitress", {}, True, "a parked process holds waitress"),
        ("uvicorn", {}, True, "a parked process holds uvicorn"),
        ("granian", {}, False, "granian is not a Python server warp can fork"),
        ("gunicorn", {"WARP_RELOAD_WARM": "0"}, False, "off (from WARP_RELOAD_WARM)"),
        ("uwsgi", {}, False, "uwsgi is not a Python server warp can fork"),
        ("mod_wsgi", {}, False, "mod_wsgi is not a Python server warp can fork"),
        ("hypercorn", {}, False, "hypercorn starts its workers as new interpreters (multiprocessing's spawn)"),
    ],
)


def test_reload_says_whether_new_servers_are_forked_warm(server, environ, warm, because):
    plan = start(server, MODULE, reload=True, environ=environ)
    assert plan.warm is warm
    assert decision(plan, "warm reload").value == ("yes" if warm else "no")
    assert because in decision(plan, "warm reload").because


@pytest.mark.parametrize(
    "mode, environ, warm_django",
    [
        ("django", {"DJANGO_SETTINGS_MODULE": "mysite.settings"}, "mysite.settings"),
        ("django", {}, None),  # no settings module known: each server sets Django up
        ("wsgi", {"DJANGO_SETTINGS_MODULE": "mysite.settings"}, None),  # not served as a Django project
    ],
)


def test_warm_reload_of_a_django_project_says_the_parked_process_sets_django_up(mode, environ, warm_django):
    target = Target("module", module="mysite.wsgi", callable="application")
    plan = start("gunicorn", target, reload=True, mode=Mode(mode, "from --app", target), app_environ={"PATH": "/usr/bin", **environ})
    assert plan.warm_django == warm_django
    because = decision(plan, "warm reload").because
    assert ("Django set up with mysite.settings (settings, app configs, models; each server sets it up instead if that fails)" in because) is bool(warm_django)
    assert ("when a file the setup read changes" in because) is bool(warm_django)
    off = start("gunicorn", target, reload=True, mode=Mode(mode, "from --app", target), app_environ={"PATH": "/usr/bin", **environ},
                environ={"WARP_RELOAD_WARM": "0"})
    assert off.warm is False and off.warm_django is None


def test_warm_reload_can_be_turned_off_in_pyproject():
    assert make_settings(tool={"reload-warm": False})["reload_warm"] == Value(False, "[tool.warp] reload-warm")
    assert make_settings()["reload_warm"] == Value(True, "default")


def test_no_warm_decision_without_reload():
    plan = start("gunicorn", MODULE)
    assert plan.warm is False and decision(plan, "warm reload") is None

"""warp.frameworks: entry-point detection, named apps and factories, Django's target; pure, from scanned facts."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)

EVERYTHING = dict(
    app_sh=True, app_sh_executable=True, app_py=True, manage_py=True, django_settings="mysite.settings",
    wsgi_py=True, wsgi_py_has_application=True, wsgi_package=True, paste_file="production.ini",
)


# Each row takes away the previous row's winner: first match wins, every row reached.
DETECTION = [
    ({}, "shell", "app.sh is present and executable", None),
    ({"app_sh_executable": False}, "python", "app.py is present and runs itself", None),
    ({"app_sh_executable": False, "app_py": False}, "django", "manage.py sets DJANGO_SETTINGS_MODULE=mysite.settings", None),
    (
        {"app_sh_executable": False, "app_py": False, "django_settings": None},
        "wsgi", "wsgi.py defines application", Target("module", module="wsgi"),
    ),
    (
        {"app_sh_executable": False, "app_py": False, "django_settings": None, "wsgi_py_has_application": False},
        "wsgi", "package wsgi/ is present", Target("module", module="wsgi"),
    ),
    (
        {"app_sh_executable": False, "app_py": False, "django_settings": None, "wsgi_py_has_application": False, "wsgi_package": False},
        "paste", "production.ini is present", Target("paste", ini=ROOT / "production.ini"),
    ),
    # single markers on their own
    ({**{key: False for key in EVERYTHING}, "django_settings": None, "paste_file": "paste.ini"}, "paste", "paste.ini is present", Target("paste", ini=ROOT / "paste.ini")),
    ({**{key: False for key in EVERYTHING}, "django_settings": None, "wsgi_py": True, "wsgi_py_has_application": True}, "wsgi", "wsgi.py defines application", Target("module", module="wsgi")),
]


APP_ONLY_MODULES = [
    # app.py that only defines the app (Litestar's and Flask's hello worlds): served, not run (warpdrive's app.py runs itself).
    ({"app_py_app": "app"}, None, "wsgi", Target("module", module="app", callable="app")),
    ({"app_py_app": "app"}, "litestar\n", "asgi", Target("module", module="app", callable="app")),
    ({"app_py_app": "application"}, None, "wsgi", Target("module", module="app", callable="application")),
    # wsgi.py that defines app, not application: served as wsgi:app.
    ({"app_py": False, "django_settings": None, "wsgi_py_has_application": False, "wsgi_py_app": "app"}, None, "wsgi",
     Target("module", module="wsgi", callable="app")),
]


@pytest.mark.parametrize("changes, requirements, name, target", APP_ONLY_MODULES, ids=["app", "app-asgi", "application", "wsgi-app"])
def test_a_module_that_only_defines_the_app_is_served(changes, requirements, name, target):
    project = make_project(requirements_text=requirements) if requirements else None
    mode = find_mode(make_app(**{**EVERYTHING, "app_sh_executable": False, **changes}), make_settings(), project)
    assert (mode.name, mode.target) == (name, target)


@pytest.mark.parametrize("changes, name, because, target", DETECTION, ids=[f"{i}-{row[1]}" for i, row in enumerate(DETECTION)])
def test_find_mode_detection_order(changes, name, because, target):
    mode = find_mode(make_app(**{**EVERYTHING, **changes}), make_settings())
    assert mode == Mode(name, because, target, None if name in ("shell", "python") else "wsgi")
    if target is not None:
        assert target.callable == "application"


def test_nothing_found_lists_what_was_looked_at():
    with pytest.raises(NoAppFound) as caught:
        find_mode(make_app(app_sh=True, manage_py=True, wsgi_py=True), make_settings())
    error = caught.value
    assert isinstance(error, UsageError) and error.exit_code == 2
    assert error.message == f"no application found in {ROOT}"
    assert error.hint == "name it with --app module:callable (or a .wsgi/.py file, or a paste .ini), or --mode"
    assert error.detail.splitlines() == [
        "looked for, in order:",
        "  app.sh        present but not executable (chmod +x app.sh)",
        "  app.py        not found",
        "  manage.py     present but does not set DJANGO_SETTINGS_MODULE",
        "  wsgi.py       present but has no 'application'",
        "  wsgi/         not found",
        "  paste.ini, production.ini  not found",
        "  asgi.py, main.py, app/main.py defining application or app  not found",
        "  the package pyproject.toml names (at the top or in src/) defining application, app, create_app or make_app  not found",
    ]


PACKAGE_APPS = [
    # Quart's tutorial: src/blog/__init__.py defines app; quart among the dependencies asks for ASGI.
    ({"project": {"name": "blog", "dependencies": ["quart"]}}, "src/blog/__init__.py", "app = Quart(__name__)\n", "quart\n",
     ("asgi", Target("module", module="blog", callable="app"), "the project's package blog (in src/) defines app")),
    # A Poetry src/ layout with a factory: the loader calls it.
    ({"tool": {"poetry": {"name": "my-shop", "packages": [{"include": "my_shop", "from": "src"}]}}}, "src/my_shop/__init__.py",
     "def create_app():\n    ...\n", "",
     ("wsgi", Target("module", module="my_shop", callable=""), "the project's package my_shop (in src/) defines create_app")),
    ({"project": {"name": "Top.Level"}}, "top_level.py", "application = make()\n", "",
     ("wsgi", Target("module", module="top_level", callable="application"), "the project's package top_level defines application")),
]


@pytest.mark.parametrize("pyproject, path, text, requirements, expected", PACKAGE_APPS, ids=["quart-src", "poetry-factory", "module"])
def test_the_projects_own_package_is_served_when_no_other_entry_point_is_there(tmp_path, pyproject, path, text, requirements, expected):
    from warp.config.project import find_package_names, scan_app

    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text)
    app = scan_app(tmp_path, "", find_package_names(pyproject))
    mode = find_mode(app, make_settings(), make_project(root=tmp_path, pyproject=pyproject, requirements_text=requirements))
    assert (mode.name, mode.target, mode.because) == expected


def test_nothing_found_in_an_empty_tree():
    with pytest.raises(NoAppFound) as caught:
        find_mode(make_app(), make_settings())
    assert caught.value.detail.splitlines()[1:5] == [
        "  app.sh        not found",
        "  app.py        not found",
        "  manage.py     not found",
        "  wsgi.py       not found",
    ]


APP_FORMS = [
    ("wsgiapp:wsgi_app", "wsgi", Target("module", module="wsgiapp", callable="wsgi_app")),
    # A module alone: the server's module finds application, app, create_app() or make_app() in it, as Flask does.
    ("pkg.web", "wsgi", Target("module", module="pkg.web", callable="")),
    ("pkg.web:", "wsgi", Target("module", module="pkg.web", callable="")),
    # Factories, as Flask's and gunicorn's docs write them: called with literal arguments only.
    ("flaskr:create_app()", "wsgi", Target("module", module="flaskr", callable="create_app", factory="()")),
    ("hello:make_app('prod', debug=False)", "wsgi", Target("module", module="hello", callable="make_app", factory="('prod', debug=False)")),
    ("_private.mod_2:_app2", "wsgi", Target("module", module="_private.mod_2", callable="_app2")),
    ("app.py", "wsgi", Target("script", script=ROOT / "app.py", callable="application")),
    ("deploy/site.wsgi:app", "wsgi", Target("script", script=ROOT / "deploy/site.wsgi", callable="app")),
    ("/opt/site/site.wsgi", "wsgi", Target("script", script=Path("/opt/site/site.wsgi"), callable="application")),
    ("bin/serve", "wsgi", Target("script", script=ROOT / "bin/serve", callable="application")),
    ("production.ini", "paste", Target("paste", ini=ROOT / "production.ini")),
    ("conf/dev.ini", "paste", Target("paste", ini=ROOT / "conf/dev.ini")),
    ("/etc/app/prod.ini", "paste", Target("paste", ini=Path("/etc/app/prod.ini"))),
]


@pytest.mark.parametrize("value, name, target", APP_FORMS, ids=[row[0] for row in APP_FORMS])
def test_app_forms(value, name, target):
    # --app wins over everything detection would have found
    mode = find_mode(make_app(**EVERYTHING), make_settings({"app": value}))
    assert mode == Mode(name, "from --app", target, "wsgi" if name == "paste" else None)


def test_app_from_environment_names_its_source():
    mode = find_mode(make_app(), make_settings(environ={"WARP_APP": "wsgiapp:wsgi_app"}))
    assert mode.because == "from WARP_APP"


def test_app_with_mode_django_is_django():
    mode = find_mode(make_app(manage_py=True), make_settings({"app": "mysite.wsgi:application", "mode": "django"}))
    assert mode == Mode("django", "from --app", Target("module", module="mysite.wsgi", callable="application"))


@pytest.mark.parametrize("value", ["a b:c", "1app:x", "app:x-y", "app:x:y", "app;rm", "app:$(x)", "-app", "app:make(os.environ)",
                                   "app:make(", "app:a.b()", "app:make(*args)"])


def test_invalid_app(value):
    with pytest.raises(UsageError) as caught:
        find_mode(make_app(**EVERYTHING), make_settings({"app": value}))
    assert caught.value.message == f"--app {value!r} is not module:callable"
    assert caught.value.hint == (
        "write it as package.module:callable, e.g. --app wsgiapp:wsgi_app, or a factory called with literal arguments, "
        "--app 'flaskr:create_app()'; or give a .wsgi/.py/.ini file"
    )


def test_app_dotted_module_ending_in_wsgi_is_a_module():
    mode = find_mode(make_app(), make_settings({"app": "mysite.wsgi"}))
    assert mode.target == Target("module", module="mysite.wsgi", callable="") and mode.target.spec == "mysite.wsgi"


def test_invalid_app_from_environment_names_the_variable():
    with pytest.raises(UsageError) as caught:
        find_mode(make_app(), make_settings(environ={"WARP_APP": "a b:c"}))
    assert "WARP_APP" in caught.value.message


FORCED_ERRORS = [
    ("shell", {"app_sh": True}, "mode shell needs an executable app.sh", "create app.sh and chmod +x it"),
    ("python", {}, "mode python needs app.py", "create app.py that listens on $PORT"),
    ("django", {"wsgi_py": True}, "mode django needs manage.py", "run warp from the Django project's directory or pass --home"),
    ("wsgi", {"app_py": True}, "mode wsgi needs wsgi.py or a wsgi/ package", "or name the app with --app module:callable"),
    ("paste", {"wsgi_py": True}, "mode paste needs paste.ini or production.ini", "or name the file with --app FILE.ini"),
]


@pytest.mark.parametrize("mode, markers, message, hint", FORCED_ERRORS, ids=[row[0] for row in FORCED_ERRORS])
def test_forced_mode_without_its_marker(mode, markers, message, hint):
    with pytest.raises(UsageError) as caught:
        find_mode(make_app(**markers), make_settings({"mode": mode}))
    assert (caught.value.message, caught.value.hint) == (message, hint)
    assert not isinstance(caught.value, NoAppFound)


FORCED_OK = [
    ("shell", {"app_sh": True, "app_sh_executable": True}, None),
    ("python", {"app_py": True}, None),
    ("django", {"manage_py": True}, None),  # forced: DJANGO_SETTINGS_MODULE may be set elsewhere
    ("wsgi", {"wsgi_py": True}, Target("module", module="wsgi")),
    ("wsgi", {"wsgi_package": True}, Target("module", module="wsgi")),
    ("paste", {"paste_file": "paste.ini"}, Target("paste", ini=ROOT / "paste.ini")),
]


@pytest.mark.parametrize("mode, markers, target", FORCED_OK, ids=[f"{row[0]}-{i}" for i, row in enumerate(FORCED_OK)])
def test_forced_mode_beats_detection_order(mode, markers, target):
    # app.sh is executable too, so auto detection would have chosen shell
    app = make_app(**{"app_sh": True, "app_sh_executable": True, **markers})
    assert find_mode(app, make_settings(environ={"WARP_APP_MODE": mode})) == Mode(mode, "from WARP_APP_MODE", target, None if mode in ("shell", "python") else "wsgi")


def test_django_target_from_answers():
    target = make_django_target(
        Mode("django", "manage.py"),
        {"wsgi_application": "mysite.wsgi.application", "static_url": "/static/", "static_root": "/srv/collected"},
        ENV / ".warp/static",
    )
    assert target == Target("django", module="mysite.wsgi", callable="application", static_url="/static/", static_root=Path("/srv/collected"),
                            django=True, static_fallback=ENV / ".warp/static")
    assert target.should_serve_static and target.spec == "mysite.wsgi:application"


def test_django_target_of_an_app_with_whitenoise_middleware():
    answers = {"wsgi_application": "mysite.wsgi.application", "static_url": "/static/", "static_root": "/srv/collected",
               "whitenoise_middleware": True}
    target = make_django_target(Mode("django", "manage.py"), answers, ENV / ".warp/static")
    assert target.app_serves_static and not target.should_serve_static
    assert (target.static_url, target.static_root) == ("/static/", Path("/srv/collected"))


@pytest.mark.parametrize("static_url", ["https://cdn.example.com/static/", "//cdn/static/", "", None])
def test_django_target_without_local_static(static_url):
    target = make_django_target(Mode("django", "m"), {"wsgi_application": "a.wsgi.app", "static_url": static_url}, ENV / "s")
    assert target.static_url is None and not target.should_serve_static
    assert target.static_root == ENV / "s"


def test_django_target_named_app_wins_and_an_unbuilt_project_loads_from_its_settings():
    named = Mode("django", "from --app", Target("module", module="other.wsgi", callable="app"))
    assert make_django_target(named, {"wsgi_application": "mysite.wsgi.application"}, ENV).spec == "other.wsgi:app"
    # Nothing recorded yet: the server's module reads WSGI_APPLICATION (or Django's default handler), as runserver does.
    target = make_django_target(Mode("django", "m"), {}, ENV)
    assert (target.kind, target.module, target.spec) == ("django", None, "WSGI_APPLICATION of the Django settings")


@pytest.mark.parametrize(
    "markers, expected",
    [
        ({"wsgi_py": True, "wsgi_py_has_application": True}, ("wsgi.py", [])),
        ({"app_py": True, "wsgi_py": True, "wsgi_py_has_application": True}, ("app.py", ["wsgi.py"])),
        ({"manage_py": True, "django_settings": "s", "wsgi_package": True, "paste_file": "paste.ini"}, ("manage.py", ["wsgi/", "paste.ini"])),
        ({"wsgi_package": True, "paste_file": "production.ini"}, ("wsgi/", ["production.ini"])),
    ],
)


def test_find_shadowed_names_the_entry_point_used_and_those_passed_over(markers, expected):
    from warp.config.project import AppFacts
    from warp.frameworks import find_mode, find_shadowed

    app = AppFacts(home=ROOT, **markers)
    settings = make_settings({}, {})
    assert find_shadowed(app, settings, find_mode(app, settings)) == expected


def test_a_named_app_or_mode_is_never_ambiguous():
    from warp.config.project import AppFacts
    from warp.frameworks import find_mode, find_shadowed

    app = AppFacts(home=ROOT, app_py=True, wsgi_py=True, wsgi_py_has_application=True)
    settings = make_settings({"mode": "wsgi"}, {})
    assert find_shadowed(app, settings, find_mode(app, settings)) == ("", [])

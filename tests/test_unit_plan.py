"""warp.plan and warp.servers: pure planning, table-driven, in memory."""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from warp import servers
from warp.errors import NoAppFound, StepFailed, UsageError
from warp.frameworks import Mode, find_mode, make_django_target
from warp.machine import MachineFacts
from warp.plan import (
    Installer,
    find_dependency_inputs,
    find_concurrency,
    find_host,
    find_interface,
    find_server,
    make_build_plan,
    make_plan_with_paste_server,
    make_start_plan,
)
from warp.project import AppFacts, HookFile, PasteServer, ProjectFacts
from warp.servers import HASHED_STATIC_NAME, Stop, Target, make_wrapper_source
from warp.servers.wrapper import make_asgi_wrapper_source
from warp.settings import Value, find_settings

ROOT = Path("/srv/blog")
ENV = Path("/home/u/.warp/envs/blog")
RUN = ENV / ".warp" / "run"
HOOKS = Path("/opt/warp/hooks")
STATIC_ROOT = Path("/srv/static")
GIB = 1 << 30
MIB = 1 << 20

WORKSTATION = MachineFacts(cpus=4, memory_bytes=16 * GIB, in_container=False, euid=1000)


def make_settings(flags=None, environ=None, files=None, tool=None):
    return find_settings(flags or {}, environ or {}, files or {}, tool or {})


def make_project(**changes) -> ProjectFacts:
    base = dict(
        root=ROOT, dependency_files=(), warp_files={}, tool={}, environment=(), hooks={}, server_args={},
        requirements_text="",
    )
    return ProjectFacts(**{**base, **changes})


def make_app(**markers) -> AppFacts:
    return AppFacts(home=ROOT, **markers)


def after(argv, flag: str, count: int = 1):
    """The value(s) following ``flag`` in argv (flag must occur exactly once)."""
    argv = list(argv)
    assert argv.count(flag) == 1, f"{flag} occurs {argv.count(flag)} times in {argv}"
    index = argv.index(flag)
    values = argv[index + 1 : index + 1 + count]
    return values[0] if count == 1 else tuple(values)


def contains_run(argv, run) -> bool:
    argv, run = list(argv), list(run)
    return any(argv[i : i + len(run)] == run for i in range(len(argv) - len(run) + 1))


# ---------------------------------------------------------------- find_mode

EVERYTHING = dict(
    app_sh=True, app_sh_executable=True, app_py=True, manage_py=True, django_settings="mysite.settings",
    wsgi_py=True, wsgi_py_has_application=True, wsgi_package=True, paste_file="production.ini",
)

# Each row takes away the previous row's winner: first match wins, every row reached.
DETECTION = [
    ({}, "shell", "app.sh is present and executable", None),
    ({"app_sh_executable": False}, "python", "app.py is present", None),
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
    ]


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
    ("pkg.web", "wsgi", Target("module", module="pkg.web", callable="application")),
    ("pkg.web:", "wsgi", Target("module", module="pkg.web", callable="application")),
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


@pytest.mark.parametrize("value", ["a b:c", "1app:x", "app:x-y", "app:x:y", "app;rm", "app:$(x)", "-app"])
def test_invalid_app(value):
    with pytest.raises(UsageError) as caught:
        find_mode(make_app(**EVERYTHING), make_settings({"app": value}))
    assert caught.value.message == f"--app {value!r} is not module:callable"
    assert caught.value.hint == (
        "write it as package.module:callable, e.g. --app wsgiapp:wsgi_app, or give a .wsgi/.py/.ini file"
    )


def test_app_dotted_module_ending_in_wsgi_is_a_module():
    mode = find_mode(make_app(), make_settings({"app": "mysite.wsgi"}))
    assert mode.target == Target("module", module="mysite.wsgi", callable="application")


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


# ---------------------------------------------------------------- find_server

NAMED = [
    ("mod_wsgi==5\n", "mod_wsgi"),
    ("mod-wsgi\n", "mod_wsgi"),
    ("uWSGI>=2\n", "uwsgi"),
    ("pyuwsgi\n", "uwsgi"),
    ('waitress ; python_version>"3"\n', "waitress"),
    ("gunicorn[gthread]==23.0\n", "gunicorn"),
    ("Django>=4.2\n  Waitress~=3.0  # prod server\n", "waitress"),
    ("Django\nwaitress\ngunicorn\n", "waitress"),  # the first one named wins
]


@pytest.mark.parametrize("requirements, server", NAMED, ids=[row[0].strip().splitlines()[-1] for row in NAMED])
def test_server_named_in_requirements(requirements, server):
    project = make_project(requirements_text=requirements)
    assert find_server(make_settings(), project, {}) == (server, "named in requirements.txt")
    # a name in requirements beats mod_wsgi merely being installed
    assert find_server(make_settings(), project, {"mod-wsgi": "5.0.0"})[0] == server


@pytest.mark.parametrize(
    "requirements",
    ["", "Django\n", "# gunicorn\n", "-r gunicorn.txt\n", "django-uwsgi\n", "waitress-extras\n", "--find-links gunicorn\n"],
)
def test_server_not_named(requirements):
    project = make_project(requirements_text=requirements)
    assert find_server(make_settings(), project, {}) == ("gunicorn", "the default (pure Python, installs everywhere)")


def test_server_installed_mod_wsgi():
    assert find_server(make_settings(), make_project(), {"mod-wsgi": "5.0.2", "django": "5.0"}) == (
        "mod_wsgi", "mod_wsgi is installed in the env",
    )


@pytest.mark.parametrize(
    "flags, environ, tool, expected",
    [
        ({"server": "uwsgi"}, {}, {}, ("uwsgi", "from --server")),
        ({}, {"WARP_SERVER_TYPE": "mod_wsgi"}, {}, ("mod_wsgi", "from WARP_SERVER_TYPE")),
        ({}, {}, {"server": "waitress"}, ("waitress", "from [tool.warp] server")),
    ],
)
def test_server_explicit_beats_requirements_and_installed(flags, environ, tool, expected):
    project = make_project(requirements_text="gunicorn\n")
    assert find_server(make_settings(flags, environ, tool=tool), project, {"mod-wsgi": "5"}) == expected


LAST_BUILD = [
    # requirements now, the last build's record, the server chosen
    ("flask\n", {"server": "waitress", "servers_named": []}, "waitress"),
    ("flask\n", {"server": "mod_wsgi", "servers_named": []}, "mod_wsgi"),
    ("gunicorn\n", {"server": "waitress", "servers_named": ["gunicorn"]}, "waitress"),  # --server beat the file then
    ("uwsgi\n", {"server": "waitress", "servers_named": []}, "uwsgi"),  # the project names another one since
    ("flask\n", {"server": "waitress", "servers_named": ["waitress"]}, "gunicorn"),  # and names none any more
    ("flask\n", {"server": "nginx", "servers_named": []}, "gunicorn"),  # not a server warp knows
    ("flask\n", {}, "gunicorn"),
]


@pytest.mark.parametrize("requirements, record, server", LAST_BUILD)
def test_the_last_builds_server_stays_chosen_until_the_user_or_the_project_names_another(requirements, record, server):
    project = make_project(requirements_text=requirements)
    assert find_server(make_settings(), project, {}, record)[0] == server
    assert find_server(make_settings({"server": "uwsgi"}), project, {}, record)[0] == "uwsgi"


def test_build_start_and_exports_share_the_one_server_decision():
    """The build plan, start.py and the exports call this one function, with the build record; nothing else chooses."""
    callers = subprocess.run(["grep", "-rln", "find_server(", str(Path(__file__).parents[1] / "warp")], capture_output=True, text=True).stdout.split()
    assert sorted(Path(path).name for path in callers) == ["plan.py", "start.py"]
    for path in callers:
        for line in Path(path).read_text().splitlines():
            if "find_server(" in line and "def find_server" not in line:
                assert "record" in line or "read_record()" in line, line


# ---------------------------------------------------------------- find_concurrency

CONCURRENCY = [
    # server, flags, environ, cpus, memory, (processes, threads)
    ("gunicorn", {}, {}, 4, 16 * GIB, (4, 4)),
    ("gunicorn", {}, {}, 2.5, 16 * GIB, (3, 4)),  # a fractional CPU quota rounds up
    ("gunicorn", {}, {}, 0.5, 16 * GIB, (1, 4)),
    ("gunicorn", {}, {}, 8, 512 * MIB, (2, 4)),  # memory caps processes at one per 256 MiB
    ("gunicorn", {}, {}, 8, 100 * MIB, (1, 4)),
    ("gunicorn", {}, {}, 8, None, (8, 4)),  # unknown memory: no cap
    ("uwsgi", {}, {}, 4, 16 * GIB, (4, 2)),  # the throughput grid: uWSGI 2 threads
    ("mod_wsgi", {}, {}, 4, 16 * GIB, (4, 4)),
    ("waitress", {}, {}, 4, 16 * GIB, (4, 4)),  # warp's launcher forks one waitress per CPU
    ("waitress", {}, {}, 1, 16 * GIB, (1, 4)),
    ("waitress", {"processes": "3"}, {}, 4, 16 * GIB, (3, 4)),
    ("waitress", {}, {"WEB_CONCURRENCY": "5"}, 4, 16 * GIB, (5, 4)),
    ("gunicorn", {"processes": "3", "threads": "7"}, {}, 4, 16 * GIB, (3, 7)),
    ("gunicorn", {"processes": "12"}, {}, 1, 256 * MIB, (12, 4)),  # flags override the memory cap
    ("gunicorn", {}, {"WEB_CONCURRENCY": "6"}, 2, 16 * GIB, (6, 4)),
    ("gunicorn", {}, {"WARP_PROCESSES": "2", "WEB_CONCURRENCY": "6"}, 2, 16 * GIB, (2, 4)),
    ("mod_wsgi", {"threads": "1"}, {}, 2, 16 * GIB, (2, 1)),
]


@pytest.mark.parametrize("server, flags, environ, cpus, memory, expected", CONCURRENCY)
def test_find_concurrency(server, flags, environ, cpus, memory, expected):
    machine = MachineFacts(cpus=cpus, memory_bytes=memory, in_container=False, euid=1000)
    processes, threads, _ = find_concurrency(server, make_settings(flags, environ), machine)
    assert (processes, threads) == expected


@pytest.mark.parametrize(
    "server, flags, environ, because",
    [
        ("gunicorn", {}, {}, "processes: default for 4 usable CPU(s); threads: default"),
        ("gunicorn", {"processes": "3", "threads": "7"}, {}, "processes from --processes; threads from --threads"),
        ("gunicorn", {}, {"WEB_CONCURRENCY": "6"}, "processes from WEB_CONCURRENCY; threads: default"),
        ("waitress", {"processes": "3"}, {}, "processes from --processes; threads: default"),
    ],
)
def test_find_concurrency_because(server, flags, environ, because):
    assert find_concurrency(server, make_settings(flags, environ), WORKSTATION)[2] == because


# ---------------------------------------------------------------- find_host


@pytest.mark.parametrize(
    "flags, environ, in_container, expected",
    [
        ({}, {}, False, ("127.0.0.1", "the default on a workstation (pass --host 0.0.0.0 to listen on all interfaces)")),
        ({}, {}, True, ("0.0.0.0", "running inside a container")),
        ({"host": "0.0.0.0"}, {}, False, ("0.0.0.0", "from --host")),
        ({"host": "127.0.0.1"}, {}, True, ("127.0.0.1", "from --host")),
        ({}, {"WARP_HTTP_HOST": "::"}, True, ("::", "from WARP_HTTP_HOST")),
    ],
)
def test_find_host(flags, environ, in_container, expected):
    machine = WORKSTATION._replace(in_container=in_container)
    assert find_host(make_settings(flags, environ), machine) == expected


# ---------------------------------------------------------------- make_build_plan

UV = Installer("uv", "/usr/bin/uv", ENV / "bin" / "python")


def hook(name: str, executable: bool = True, escapes: bool = False) -> HookFile:
    return HookFile(name, ROOT / ".warp/action_hooks" / name, executable, escapes)


def build(
    *, project=None, app=None, settings=None, installer=UV, digests=None, python_version="3.12.1",
    installed=None, warp_version="0.1.0",
):
    return make_build_plan(
        project=project or make_project(dependency_files=("requirements.txt",), requirements_text="Django\n"),
        app=app or make_app(),
        settings=settings or make_settings(),
        installer=installer,
        installer_because="test",
        digests={"requirements.txt": "aaa"} if digests is None else digests,
        python_version=python_version,
        installed=installed or {},
        warp_version=warp_version,
        hooks_dir=HOOKS,
    )


def test_build_step_order():
    project = make_project(
        dependency_files=("requirements.txt",),
        requirements_text="Django\n",
        hooks={"pre-build": hook("pre-build"), "build": hook("build"), "deploy": hook("deploy")},
    )
    plan = build(project=project, app=make_app(manage_py=True, django_settings="mysite.settings"))
    assert [(step.kind, step.title) for step in plan.steps] == [
        ("hook", "Running pre-build hook"),
        ("install", "Installing dependencies with uv (requirements.txt)"),
        ("server", "Installing gunicorn if missing"),
        ("hook", "Running build hook"),
        ("collectstatic", "Collecting Django static files"),
    ]
    steps = plan.steps
    assert steps[0].hook == project.hooks["pre-build"] and steps[3].hook == project.hooks["build"]
    assert steps[1].argv == ("/usr/bin/uv", "pip", "install", "--python", str(ENV / "bin/python"), "-r", "requirements.txt")
    assert steps[2].packages == ("gunicorn", "whitenoise")
    assert steps[2].argv == ("/usr/bin/uv", "pip", "install", "--python", str(ENV / "bin/python"))
    assert steps[4].argv == ("python", str(HOOKS / "django_collectstatic.py"))
    assert plan.server == "gunicorn" and plan.warnings == ()
    decisions = {d.name: (d.value, d.because) for d in plan.decisions}
    assert decisions["dependencies"] == ("requirements.txt", "requirements.txt is present")
    assert decisions["server"] == ("gunicorn", "the default (pure Python, installs everywhere)")
    assert decisions["collectstatic"] == ("yes", "manage.py sets DJANGO_SETTINGS_MODULE=mysite.settings")


def test_build_minimal_has_only_the_server_step():
    plan = build(project=make_project(), digests={})
    assert [step.kind for step in plan.steps] == ["server"]
    assert {d.name: d.value for d in plan.decisions}["dependencies"] == "none"


def test_build_manage_py_without_settings_has_no_collectstatic():
    plan = build(app=make_app(manage_py=True))
    assert "collectstatic" not in [step.kind for step in plan.steps]


def test_build_project_installed_editable():
    project = make_project(dependency_files=("pyproject.toml", "setup.cfg"), pyproject={"build-system": {"requires": ["setuptools"]}})
    plan = build(project=project, digests={"pyproject.toml": "p", "setup.cfg": "c"})
    install = plan.steps[0]
    assert (install.kind, install.title) == ("install", "Installing the project with uv (editable)")
    assert install.argv[-2:] == ("-e", ".")
    assert {d.name: d.because for d in plan.decisions}["dependencies"] == (
        "pyproject.toml declares a package (build-system) and there is no requirements.txt or lock file"
    )


def test_build_requirement_files_from_warp_pip_packages():
    settings = make_settings(environ={"WARP_PIP_PACKAGES": "base.txt prod.txt"})
    plan = build(settings=settings, digests={"base.txt": "b", "prod.txt": "p"})
    assert plan.steps[0].argv[-4:] == ("-r", "base.txt", "-r", "prod.txt")
    assert plan.steps[0].title == "Installing dependencies with uv (base.txt, prod.txt)"
    assert {d.name: d.because for d in plan.decisions}["dependencies"] == "listed in WARP_PIP_PACKAGES"


def test_build_pip_offline_with_wheelhouse():
    pip = Installer("pip", None, ENV / "bin/python", find_links=ROOT / ".warp/wheelhouse", offline=True)
    plan = build(installer=pip, settings=make_settings({"server": "waitress"}))
    assert plan.steps[0].argv == (
        str(ENV / "bin/python"), "-m", "pip", "install", "--disable-pip-version-check",
        "--find-links", str(ROOT / ".warp/wheelhouse"), "--no-index", "-r", "requirements.txt",
    )
    assert plan.steps[0].title == "Installing dependencies with pip (requirements.txt)"
    assert plan.steps[1].title == "Installing waitress if missing"
    assert plan.steps[1].packages == ("waitress", "whitenoise")


@pytest.mark.parametrize("server, packages", [("mod_wsgi", ("mod-wsgi",)), ("uwsgi", ("uwsgi",))])
def test_build_server_packages(server, packages):
    plan = build(settings=make_settings({"server": server}))
    assert plan.server == server
    assert [step.packages for step in plan.steps if step.kind == "server"] == [packages]


@pytest.mark.parametrize("name", ["pre-build", "build"])
def test_non_executable_hook_is_a_warning_and_skipped(name):
    project = make_project(dependency_files=("requirements.txt",), hooks={name: hook(name, executable=False)})
    plan = build(project=project)
    assert plan.warnings == (f"hook .warp/action_hooks/{name} is not executable and was skipped (chmod +x it to run it)",)
    assert [step.kind for step in plan.steps] == ["install", "server"]


@pytest.mark.parametrize("executable", [True, False])
@pytest.mark.parametrize("name", ["pre-build", "build"])
def test_hook_escaping_the_project_is_refused(name, executable):
    project = make_project(hooks={name: hook(name, executable=executable, escapes=True)})
    with pytest.raises(UsageError) as caught:
        build(project=project)
    assert caught.value.message == f"hook .warp/action_hooks/{name} is a symlink to a file outside the project"
    assert caught.value.hint == "hooks must live inside the project; copy the script into .warp/action_hooks/"


BASE_FINGERPRINT = build().fingerprint

CHANGES_FINGERPRINT = {
    "digest": dict(digests={"requirements.txt": "bbb"}),
    "python": dict(python_version="3.12.2"),
    "server": dict(settings=make_settings({"server": "uwsgi"})),
    "server-from-installed": dict(installed={"mod-wsgi": "5.0"}),
    "installer": dict(installer=Installer("pip", None, ENV / "bin" / "python")),
    "offline": dict(installer=dataclasses.replace(UV, offline=True)),
    "wheelhouse": dict(installer=dataclasses.replace(UV, find_links=ROOT / ".warp/wheelhouse")),
    "warp": dict(warp_version="0.2.0"),
    "input-files": dict(settings=make_settings(environ={"WARP_PIP_PACKAGES": "requirements.txt other.txt"})),
}

KEEPS_FINGERPRINT = {
    "same": {},
    "installed-unrelated": dict(installed={"django": "5.0", "gunicorn": "23.0.0"}),
    "django-app": dict(app=make_app(manage_py=True, django_settings="mysite.settings")),
    "port": dict(settings=make_settings({"port": "9000", "processes": "3"})),
}


@pytest.mark.parametrize("changes", CHANGES_FINGERPRINT.values(), ids=CHANGES_FINGERPRINT)
def test_fingerprint_changes(changes):
    fingerprint = build(**changes).fingerprint
    assert fingerprint != BASE_FINGERPRINT
    assert build(**changes).fingerprint == fingerprint  # and is stable


@pytest.mark.parametrize("changes", KEEPS_FINGERPRINT.values(), ids=KEEPS_FINGERPRINT)
def test_fingerprint_unchanged(changes):
    assert build(**changes).fingerprint == BASE_FINGERPRINT


def build_from_several_files():
    return build(digests={"requirements.txt": "a", "base.txt": "b", "extra.txt": "c", "constraints.txt": "d"},
                 settings=make_settings(environ={"WARP_PIP_PACKAGES": "requirements.txt base.txt extra.txt"}))


def test_fingerprint_is_the_same_in_the_next_process():
    """Each build compares with the fingerprint a previous process recorded: no hash seed or set order may enter it."""
    code = "from test_unit_plan import build_from_several_files; print(build_from_several_files().fingerprint)"
    seen = {
        subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, env={**os.environ, "PYTHONHASHSEED": seed},
                       capture_output=True, text=True, check=True).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert seen == {build_from_several_files().fingerprint}


def test_fingerprint_follows_included_requirement_files():
    one = build(digests={"requirements.txt": "aaa", "base.txt": "b1"}).fingerprint
    two = build(digests={"requirements.txt": "aaa", "base.txt": "b2"}).fingerprint
    assert one != two


def test_fingerprint_follows_lock_file():
    project = make_project(dependency_files=("uv.lock", "pyproject.toml"))
    one = build(project=project, digests={"pyproject.toml": "p", "uv.lock": "l1"}).fingerprint
    two = build(project=project, digests={"pyproject.toml": "p", "uv.lock": "l2"}).fingerprint
    assert one != two


# ---------------------------------------------------------------- make_start_plan

MODULE = Target("module", module="wsgiapp", callable="wsgi_app")
SCRIPT = Target("script", script=ROOT / "site.wsgi", callable="app")
PASTE = Target("paste", ini=ROOT / "production.ini")


def with_static(target: Target, url: str = "/static/") -> Target:
    return dataclasses.replace(target, static_url=url, static_root=STATIC_ROOT)


def start(server, target, *, flags=None, environ=None, project=None, machine=WORKSTATION, versions=None,
          run_user=None, reload=False, mode=None, app_environ=None, listen_fd=None, socket_owner=None,
          default_socket=None):
    return make_start_plan(
        mode=mode or Mode("wsgi", "from --app", target),
        target=target,
        server=server,
        server_because="from --server",
        settings=make_settings(flags, environ),
        machine=machine,
        app_environ=app_environ or {"PATH": "/usr/bin", "PORT": "1"},
        masked=frozenset({"SECRET"}),
        env_path=ENV,
        runtime_dir=Path("/tmp/warp-0/0123456789ab"),
        hooks_dir=HOOKS,
        app=make_app(),
        project=project or make_project(),
        versions=versions or {},
        run_user=run_user,
        reload=reload,
        listen_fd=listen_fd,
        socket_owner=socket_owner,
        default_socket=default_socket,
    )


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


# gunicorn


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
    assert after(argv, "--pythonpath") == str(ROOT)
    assert argv[-1] == "wsgiapp:wsgi_app"
    assert "--paste" not in argv and "--no-control-socket" not in argv
    assert plan.files == {} and plan.prepare == ()
    assert plan.stop == Stop("exec", timeout=30.0)


def test_gunicorn_one_thread_uses_the_sync_worker():
    argv = start("gunicorn", MODULE, flags={"threads": "1"}).argv
    assert after(argv, "--threads") == "1"
    assert "--worker-class" not in argv


def test_gunicorn_paste():
    plan = start("gunicorn", PASTE)
    assert after(plan.argv, "--paste") == str(ROOT / "production.ini")
    assert plan.files == {}
    assert not any("warp_wsgi" in arg for arg in plan.argv)


@pytest.mark.parametrize("target", [with_static(MODULE), SCRIPT, with_static(SCRIPT), with_static(PASTE)], ids=["module+static", "script", "script+static", "paste+static"])
@pytest.mark.parametrize("reload", [False, True])
def test_gunicorn_wrapper_module(target, reload):
    plan = start("gunicorn", target, reload=reload)
    wrapper = RUN / "warp_wsgi.py"
    report = HOOKS / "_common.py" if reload else None  # under --reload it lists the modules it loaded for a warm parent
    assert plan.files == {wrapper: make_wrapper_source(target, reload, signal_ready=reload, report_modules=report)}
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


# mod_wsgi


def test_mod_wsgi_module():
    plan = start("mod_wsgi", MODULE, flags={"processes": "2"})
    (setup,) = plan.prepare
    assert setup[:2] == (str(ENV / "bin/mod_wsgi-express"), "setup-server")
    assert after(setup, "--application-type") == "module"
    assert after(setup, "--entry-point") == "wsgiapp"
    assert after(setup, "--callable-object") == "wsgi_app"
    server_root = Path("/tmp/warp-0/0123456789ab") / "mod_wsgi-8080"  # short: Apache puts its sockets there
    assert after(setup, "--server-root") == str(server_root)
    assert after(setup, "--host") == "127.0.0.1" and after(setup, "--port") == "8080"
    assert after(setup, "--processes") == "2" and after(setup, "--threads") == "4"
    assert after(setup, "--working-directory") == str(ROOT)
    assert after(setup, "--python-path") == str(ROOT)
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
    (setup,) = start("mod_wsgi", SCRIPT).prepare
    assert setup[2] == str(SCRIPT.script)
    assert after(setup, "--application-type") == "script" and after(setup, "--callable-object") == "app"
    (setup,) = start("mod_wsgi", PASTE).prepare
    assert setup[2] == str(PASTE.ini)
    assert after(setup, "--application-type") == "paste"


@pytest.mark.parametrize("timeout, shutdown, stop", [("60", "30", 60), ("12.5", "13", 13), ("30", "30", 30)])
def test_mod_wsgi_shutdown_timeout(timeout, shutdown, stop):
    plan = start("mod_wsgi", MODULE, flags={"graceful_timeout": timeout})
    assert after(plan.prepare[0], "--shutdown-timeout") == shutdown
    assert plan.stop.timeout == stop


# uwsgi


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
    assert after(argv, "--pythonpath") == str(ROOT)
    assert after(argv, "--module") == "wsgiapp:wsgi_app"
    assert "--static-map" not in argv
    assert plan.stop == Stop("fifo", path=fifo, command="q", timeout=30.0)


def test_uwsgi_script_paste_static():
    argv = start("uwsgi", SCRIPT).argv
    assert after(argv, "--wsgi-file") == str(SCRIPT.script) and after(argv, "--callable") == "app"
    argv = start("uwsgi", PASTE).argv
    paste = after(argv, "--paste")
    assert paste == f"config:{ROOT / 'production.ini'}"
    assert Path(paste.removeprefix("config:")).is_absolute()
    argv = start("uwsgi", with_static(MODULE)).argv
    assert after(argv, "--static-map") == f"/static={STATIC_ROOT}"


def routes(argv) -> list[str]:
    return [argv[index + 1] for index, arg in enumerate(argv) if arg == "--response-route-if"]


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


# Unix sockets (behind nginx)

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


# waitress


def test_waitress_module():
    plan = start("waitress", MODULE, flags={"processes": "4"})
    argv = plan.argv
    assert argv[:2] == (str(ENV / "bin/python"), str(HOOKS / "waitress_serve.py"))
    assert after(argv, "--listen") == "127.0.0.1:8080"
    assert after(argv, "--threads") == "4"
    assert after(argv, "--processes") == "4"
    assert after(argv, "--app") == "wsgiapp:wsgi_app"
    assert "--static-url" not in argv and "--autorefresh" not in argv
    assert plan.stop == Stop("exec", timeout=30.0)
    assert {d.name: d.value for d in plan.decisions}["processes x threads"] == "4 x 4"


def test_waitress_script_paste_static_reload():
    argv = start("waitress", SCRIPT).argv
    assert after(argv, "--script") == str(SCRIPT.script) and after(argv, "--callable") == "app"
    argv = start("waitress", PASTE).argv
    assert after(argv, "--paste") == str(PASTE.ini)
    argv = start("waitress", with_static(MODULE), reload=True).argv
    assert after(argv, "--static-url") == "/static/"
    assert after(argv, "--static-root") == str(STATIC_ROOT)
    assert after(argv, "--immutable-file-test") == HASHED_STATIC_NAME
    assert "--autorefresh" in argv
    assert "--immutable-file-test" not in start("waitress", MODULE).argv


@pytest.mark.parametrize("server", sorted(servers.ADAPTERS))
def test_container_listens_everywhere(server):
    machine = WORKSTATION._replace(in_container=True)
    plan = start(server, MODULE, machine=machine)
    assert plan.host == "0.0.0.0"
    listen = list(plan.argv) + list(plan.prepare[0] if plan.prepare else ())
    assert "0.0.0.0:8080" in listen or ("0.0.0.0" in listen and after(listen, "--port") == "8080")


# Django's static files


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
    assert not any("whitenoise" in text.lower() for text in plan.files.values())
    if server == "gunicorn" and not reload:
        assert plan.argv[-1] == MODULE.spec and not plan.files  # no wrapper module at all
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


# ---------------------------------------------------------------- make_django_target


def test_django_target_from_answers():
    target = make_django_target(
        Mode("django", "manage.py"),
        {"wsgi_application": "mysite.wsgi.application", "static_url": "/static/", "static_root": "/srv/collected"},
        ENV / ".warp/static",
    )
    assert target == Target("module", module="mysite.wsgi", callable="application", static_url="/static/", static_root=Path("/srv/collected"))
    assert target.should_serve_static


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


def test_django_target_named_app_wins_and_missing_wsgi_application():
    named = Mode("django", "from --app", Target("module", module="other.wsgi", callable="app"))
    assert make_django_target(named, {"wsgi_application": "mysite.wsgi.application"}, ENV).spec == "other.wsgi:app"
    with pytest.raises(UsageError, match=r"^Django settings define no WSGI_APPLICATION$"):
        make_django_target(Mode("django", "m"), {"wsgi_application": None}, ENV)


# ---------------------------------------------------------------- make_wrapper_source

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
    source = make_wrapper_source(target, autorefresh)
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
    assert "WARP_READY_FD" in wrapper
    compile(wrapper, "warp_wsgi.py", "exec")
    assert any(arg.startswith("warp_wsgi") for arg in plan.argv)


@pytest.mark.parametrize("body, byte", [("application = object()\n", b"1"), ("def broken(:\n", b"0"), ("import no_such_module_here\n", b"0")],
                         ids=["loads", "syntax-error", "import-error"])
def test_wrapper_tells_warp_whether_the_app_loaded(tmp_path, monkeypatch, body, byte):
    (tmp_path / "someapp.py").write_text(body)
    wrapper = tmp_path / "warp_wsgi_probe.py"
    wrapper.write_text(make_wrapper_source(Target("module", module="someapp"), signal_ready=True))
    read, write = os.pipe()
    monkeypatch.setenv("WARP_READY_FD", str(write))
    code = "import warp_wsgi_probe"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
                            pass_fds=(write,), capture_output=True, text=True)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read() == byte
    assert (result.returncode == 0) == (byte == b"1")
    if byte == b"0":
        assert "Traceback" in result.stderr  # the app's own error is still raised, not swallowed


WRAPPER_SOURCES = {
    "wsgi": lambda target: make_wrapper_source(target),
    "wsgi-reload": lambda target: make_wrapper_source(target, signal_ready=True),
    "asgi": lambda target: make_asgi_wrapper_source(target),
    "asgi-reload": lambda target: make_asgi_wrapper_source(target, signal_ready=True),
}


@pytest.mark.parametrize("make_source", WRAPPER_SOURCES.values(), ids=WRAPPER_SOURCES)
def test_wrapper_freezes_what_the_apps_import_made_and_nothing_after(tmp_path, make_source):
    """gc.freeze() once the app is imported: the collector's full passes skip the import's objects from then on."""
    (tmp_path / "someapp.py").write_text("IMPORTED = [[n] for n in range(1000)]\napplication = object()\n")
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
    assert "WARP_READY_FD" in wrapper and "whitenoise" not in wrapper.lower()  # Apache serves the static files itself
    assert "--url-alias" in setup
    production = start("mod_wsgi", with_static(MODULE)).prepare[0]
    assert "--embedded-mode" not in production and after(production, "--entry-point") == MODULE.module
    assert "--initial-workers" not in setup  # embedded: Apache's children are the app's processes


def test_reload_defaults_to_one_process_unless_asked():
    assert after(start("gunicorn", MODULE, reload=True).argv, "--workers") == "1"
    assert after(start("gunicorn", MODULE, reload=True, flags={"processes": "3"}).argv, "--workers") == "3"


# ---------------------------------------------------------------- dependency inputs (lock files)

PACKAGE = {"build-system": {"requires": ["setuptools"]}, "project": {"dependencies": ["flask"]}}
APP = {"project": {"dependencies": ["flask"]}}
NO_PACKAGE_POETRY = {"build-system": {}, "tool": {"poetry": {"package-mode": False}}}

INPUTS = [
    # (files present, pyproject, WARP_PIP_PACKAGES, expected how, expected files)
    (("requirements.txt", "uv.lock", "pyproject.toml"), APP, None, "requirements", ("requirements.txt",)),
    (("uv.lock", "poetry.lock", "pyproject.toml"), APP, None, "uv.lock", ("uv.lock", "pyproject.toml")),
    (("poetry.lock", "Pipfile.lock", "pyproject.toml"), APP, None, "poetry.lock", ("poetry.lock", "pyproject.toml")),
    (("Pipfile.lock", "Pipfile"), {}, None, "Pipfile.lock", ("Pipfile.lock", "Pipfile")),
    (("pyproject.toml",), APP, None, "pyproject", ("pyproject.toml",)),
    (("pyproject.toml", "setup.cfg"), PACKAGE, None, "project", ("pyproject.toml", "setup.cfg")),
    (("setup.py",), {}, None, "project", ("setup.py",)),
    ((), {}, None, "none", ()),
    (("requirements.txt", "uv.lock"), APP, "a.txt b.txt", "requirements", ("a.txt", "b.txt")),
]


@pytest.mark.parametrize("files, pyproject, named, how, expected", INPUTS)
def test_dependency_inputs_in_order(files, pyproject, named, how, expected):
    settings = make_settings(environ={"WARP_PIP_PACKAGES": named} if named else {})
    got = find_dependency_inputs(make_project(dependency_files=files, pyproject=pyproject), settings)
    assert got[:2] == (expected, how)


def test_more_than_one_lock_says_which_and_why():
    project = make_project(dependency_files=("uv.lock", "poetry.lock", "Pipfile.lock", "pyproject.toml"), pyproject=APP)
    _, how, because = find_dependency_inputs(project, make_settings())
    assert how == "uv.lock"
    assert because == "uv.lock is present; also found poetry.lock, Pipfile.lock, but uv.lock comes first (uv.lock > poetry.lock > Pipfile.lock)"


@pytest.mark.parametrize(
    "how, pyproject, editable",
    [("uv.lock", APP, False), ("poetry.lock", PACKAGE, True), ("poetry.lock", NO_PACKAGE_POETRY, False), ("Pipfile.lock", {}, False)],
)
def test_a_lock_is_read_then_installed_exactly(how, pyproject, editable):
    files = (how, "pyproject.toml") if pyproject else (how,)
    plan = build(project=make_project(dependency_files=files, pyproject=pyproject), digests={name: "x" for name in files})
    lock, install = plan.steps[0], plan.steps[1]
    assert (lock.kind, lock.packages[0]) == ("lock", how)
    assert install.argv[-2 - 2 * editable :][:2] == ("-r", lock.packages[1])
    assert (install.argv[-2:] == ("-e", ".")) is editable


POETRY_NO_PACKAGE_DIR = {"project": {"name": "shop"}, "build-system": {"build-backend": "poetry.core.masonry.api"}}


@pytest.mark.parametrize("top_level, editable", [(frozenset({"wsgi.py"}), False), (frozenset({"shop/", "wsgi.py"}), True)])
def test_a_poetry_project_without_its_package_installs_only_the_lock_and_says_so(top_level, editable):
    files = ("poetry.lock", "pyproject.toml")
    project = make_project(dependency_files=files, pyproject=POETRY_NO_PACKAGE_DIR, top_level=top_level)
    plan = build(project=project, digests={name: "x" for name in files})
    assert (plan.steps[1].argv[-2:] == ("-e", ".")) is editable
    assert plan.warnings == (() if editable else (
        "the project itself is not installed, only its dependencies: Poetry's package mode finds no package shop "
        "(no shop/ or shop.py, at the top or in src/, and no [tool.poetry] packages); the app is served from the "
        "source tree (set [tool.poetry] package-mode = false to say so)",
    ))


def test_a_poetry_project_that_gains_its_package_builds_again():
    files = ("poetry.lock", "pyproject.toml")
    plans = [
        build(project=make_project(dependency_files=files, pyproject=POETRY_NO_PACKAGE_DIR, top_level=top_level),
              digests={name: "x" for name in files})
        for top_level in (frozenset({"wsgi.py"}), frozenset({"wsgi.py", "shop/"}))
    ]
    assert plans[0].fingerprint != plans[1].fingerprint


def test_the_lock_file_is_part_of_the_fingerprint():
    project = make_project(dependency_files=("poetry.lock", "pyproject.toml"), pyproject=APP)
    one = build(project=project, digests={"poetry.lock": "1", "pyproject.toml": "p"}).fingerprint
    two = build(project=project, digests={"poetry.lock": "2", "pyproject.toml": "p"}).fingerprint
    assert one != two


# ---------------------------------------------------------------- ambiguous entry points


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
    from warp.frameworks import find_mode, find_shadowed
    from warp.project import AppFacts

    app = AppFacts(home=ROOT, **markers)
    settings = make_settings({}, {})
    assert find_shadowed(app, settings, find_mode(app, settings)) == expected


def test_a_named_app_or_mode_is_never_ambiguous():
    from warp.frameworks import find_mode, find_shadowed
    from warp.project import AppFacts

    app = AppFacts(home=ROOT, app_py=True, wsgi_py=True, wsgi_py_has_application=True)
    settings = make_settings({"mode": "wsgi"}, {})
    assert find_shadowed(app, settings, find_mode(app, settings)) == ("", [])


# ---------------------------------------------------------------- a paste ini's own [server:main]

INI_WAITRESS = PasteServer("egg:waitress#main", "localhost:6543", "localhost", 6543)

PASTE_SERVER_NOTES = [
    # (server, flags, [server:main], decision value, because, warning)
    ("gunicorn", {}, INI_WAITRESS, "egg:waitress#main on localhost:6543, not used",
     "warp runs gunicorn on 127.0.0.1:8080 itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --port 6543 (or set PORT=6543) and --server waitress",
     "production.ini's [server:main] (egg:waitress#main on localhost:6543) is not used: warp runs gunicorn on 127.0.0.1:8080; "
     "to follow it pass --port 6543 (or set PORT=6543) and --server waitress"),
    ("waitress", {"port": "6543"}, INI_WAITRESS, "egg:waitress#main on localhost:6543, not used",
     "warp runs waitress on 127.0.0.1:6543 itself (the server, host and port above), not production.ini's [server:main]", None),
    ("uwsgi", {"port": "5000"}, PasteServer("egg:Paste#http", "0.0.0.0:5000", "0.0.0.0", 5000), "egg:Paste#http on 0.0.0.0:5000, not used",
     "warp runs uwsgi on 127.0.0.1:5000 itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --host 0.0.0.0",
     "production.ini's [server:main] (egg:Paste#http on 0.0.0.0:5000) is not used: warp runs uwsgi on 127.0.0.1:5000; "
     "to follow it pass --host 0.0.0.0"),
    ("gunicorn", {"host": "::1"}, PasteServer("egg:gunicorn#main", "*:%(port)s", "*", None), "egg:gunicorn#main on *:%(port)s, not used",
     "warp runs gunicorn on [::1]:8080 itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --host 0.0.0.0",
     "production.ini's [server:main] (egg:gunicorn#main on *:%(port)s) is not used: warp runs gunicorn on [::1]:8080; "
     "to follow it pass --host 0.0.0.0"),
    ("gunicorn", {}, PasteServer("call:waitress:serve_paste"), "call:waitress:serve_paste, not used",
     "warp runs gunicorn on 127.0.0.1:8080 itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --server waitress",
     "production.ini's [server:main] (call:waitress:serve_paste) is not used: warp runs gunicorn on 127.0.0.1:8080; "
     "to follow it pass --server waitress"),
    ("uwsgi", {"socket": "/run/u.sock"}, INI_WAITRESS, "egg:waitress#main on localhost:6543, not used",
     "warp runs uwsgi on unix:/run/u.sock itself (the server, host and port above), not production.ini's [server:main]; "
     "to follow it pass --server waitress",
     "production.ini's [server:main] (egg:waitress#main on localhost:6543) is not used: warp runs uwsgi on unix:/run/u.sock; "
     "to follow it pass --server waitress"),
]


@pytest.mark.parametrize("server, flags, paste, value, because, warning", PASTE_SERVER_NOTES)
def test_a_paste_ini_server_section_is_named_with_what_runs_instead(server, flags, paste, value, because, warning):
    plan = start(server, PASTE, flags=flags, mode=Mode("paste", "production.ini is present", PASTE))
    noted = make_plan_with_paste_server(plan, paste)
    names = [d.name for d in noted.decisions]
    assert [name for name in names if name != "paste server"] == [d.name for d in plan.decisions]
    assert names[names.index("paste server") - 1] == "application"
    decision = noted.decisions[names.index("paste server")]
    assert (decision.value, decision.because) == (value, because)
    assert noted.warnings == ((warning,) if warning else ())
    assert (noted.argv, noted.host, noted.port) == (plan.argv, plan.host, plan.port)


def test_a_paste_ini_without_a_server_section_changes_nothing():
    plan = start("gunicorn", PASTE, mode=Mode("paste", "production.ini is present", PASTE))
    assert make_plan_with_paste_server(plan, None) == plan


def test_a_paste_ini_outside_the_app_home_is_named_by_its_path():
    ini = Path("/etc/app/prod.ini")
    target = Target("paste", ini=ini)
    plan = make_plan_with_paste_server(start("gunicorn", target, mode=Mode("paste", "from --app", target)), INI_WAITRESS)
    assert plan.warnings[0].startswith("/etc/app/prod.ini's [server:main] (egg:waitress#main on localhost:6543) is not used")


# ---------------------------------------------------------------- ASGI: detection, interface, servers

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


ASGI_PROBE = {"interface": "asgi", "because": "main:app is a FastAPI whose __call__ is async"}
INTERFACES = [
    # settings flags, mode interface, probe, asks_asgi -> interface, because fragment
    ({"interface": "wsgi"}, "asgi", ASGI_PROBE, "x", "wsgi", "from --interface"),
    ({}, "wsgi", ASGI_PROBE, None, "asgi", "FastAPI whose __call__ is async (imported in the app's env)"),
    ({}, "asgi", None, None, "asgi", "main.py defines app"),
    ({}, None, None, "fastapi (an ASGI framework) is among the dependencies", "asgi", "fastapi"),
    ({}, None, None, None, "wsgi", "no sign of ASGI"),
]


@pytest.mark.parametrize("flags, mode_interface, probe, asks, interface, because", INTERFACES)
def test_interface_precedence(flags, mode_interface, probe, asks, interface, because):
    mode = Mode("asgi", "main.py defines app", Target("module", module="main", callable="app"), mode_interface)
    found = find_interface(make_settings(flags), mode, probe, asks)
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


def test_gunicorn_before_its_asgi_worker_is_an_error():
    with pytest.raises(UsageError) as caught:
        find_server(make_settings({"server": "gunicorn"}), make_project(), {"gunicorn": "23.0.0"}, None, "asgi", "x")
    assert caught.value.message.startswith("gunicorn 23.0.0 has no stable ASGI worker (it came in 25.1)")


ASGI_APP = Target("module", module="main", callable="app")
ASGI_MODE = Mode("asgi", "main.py defines app", ASGI_APP, "asgi")
DJANGO_ASGI = Target("module", module="mysite.asgi", static_url="/static/", static_root=STATIC_ROOT)


def asgi_plan(server, target=ASGI_APP, mode=ASGI_MODE, flags=None, versions=None, reload=False, listen_fd=None):
    return make_start_plan(
        mode=mode, target=target, server=server, server_because="from --server", settings=make_settings(flags), machine=WORKSTATION,
        app_environ={"PATH": "/usr/bin"}, masked=frozenset(), env_path=ENV, runtime_dir=Path("/tmp/warp-0/0123456789ab"),
        hooks_dir=HOOKS, app=make_app(), project=make_project(), versions=versions or {"gunicorn": "27.0.1"}, reload=reload,
        listen_fd=listen_fd, interface="asgi", interface_because=mode.because,
    )


def test_uvicorn_argv():
    plan = asgi_plan("uvicorn", flags={"graceful_timeout": "7", "processes": "3"})
    argv = plan.argv
    assert argv[:2] == (str(ENV / "bin" / "python"), str(HOOKS / "uvicorn_serve.py")) and argv[-1] == "warp_asgi:application"
    assert (after(argv, "--host"), after(argv, "--port"), after(argv, "--workers")) == ("127.0.0.1", "8080", "3")
    assert after(argv, "--timeout-graceful-shutdown") == "7"  # an open WebSocket cannot hold a stop up for ever
    assert after(argv, "--lifespan") == "auto"
    # three processes: uvicorn's parent exits 0 when the startup fails, so warp stays the parent and looks for the marker
    assert plan.stop == Stop("signal", signal="SIGTERM", timeout=7) and plan.failure_marker == RUN / "startup-failed-0"
    source = plan.files[RUN / "warp_asgi.py"]
    assert "exit_on_failure = False" in source and f"open({str(RUN / 'startup-failed-0')!r}, 'w').close()" in source  # its workers exit 3 themselves
    assert dict((d.name, d.value) for d in plan.decisions)["processes x threads"] == "3 x 1"


def test_uvicorn_one_process_execs_and_serves_the_app_itself():
    plan = asgi_plan("uvicorn", flags={"processes": "1"})
    assert plan.argv[-1] == "main:app" and plan.stop.kind == "exec" and not plan.files and plan.failure_marker is None


def test_uvicorn_reload_takes_warps_socket_and_tells_when_ready():
    plan = asgi_plan("uvicorn", reload=True, listen_fd=7)
    assert after(plan.argv, "--fd") == "7" and "--host" not in plan.argv
    assert plan.argv[-1] == "warp_asgi:application" and after(plan.argv, "--app-dir") == str(RUN)
    source = plan.files[RUN / "warp_asgi.py"]
    assert "lifespan.startup.complete" in source and "WARP_READY_FD" in source


def test_django_asgi_has_no_lifespan_and_servestatic_serves_its_static_files():
    mode = Mode("django", "manage.py sets DJANGO_SETTINGS_MODULE=mysite.settings", DJANGO_ASGI, "asgi")
    for server, flag, value in (("uvicorn", "--lifespan", "off"), ("gunicorn", "--asgi-lifespan", "off"), ("granian", "--interface", "asginl")):
        plan = asgi_plan(server, DJANGO_ASGI, mode)
        assert after(plan.argv, flag) == value
        source = next(iter(plan.files.values()))
        assert "ServeStaticASGI(application, root='/srv/static', prefix='/static/'" in source
        assert "lifespan" not in source.split("_app = application")[1]  # off: ready once imported
        assert dict((d.name, d.value) for d in plan.decisions)["lifespan"] == "off"


def test_gunicorn_asgi_argv():
    plan = asgi_plan("gunicorn", flags={"threads": "8"})
    argv = plan.argv
    assert after(argv, "--worker-class") == "asgi" and "--threads" not in argv and after(argv, "--asgi-lifespan") == "auto"
    assert argv[-1] == "main:app" and plan.stop.kind == "exec"
    assert "--threads is not used" in dict((d.name, d.because) for d in plan.decisions)["processes x threads"]


def test_gunicorn_asgi_before_27_exits_on_a_failed_startup_through_warps_module():
    plan = asgi_plan("gunicorn", versions={"gunicorn": "25.1.0"})
    assert plan.argv[-1] == "warp_asgi:application" and "exit_on_failure = True" in plan.files[RUN / "warp_asgi.py"]


def test_gunicorn_asgi_reload_takes_warps_socket():
    assert after(asgi_plan("gunicorn", reload=True, listen_fd=9).argv, "--bind") == "fd://9"


def test_hypercorn_argv():
    plan = asgi_plan("hypercorn", flags={"graceful_timeout": "5"}, reload=True, listen_fd=6)
    assert after(plan.argv, "--bind") == "fd://6" and after(plan.argv, "--graceful-timeout") == "5"
    assert plan.argv[-1] == f"{RUN / 'warp_asgi.py'}:application"  # Hypercorn imports a file from its directory
    assert plan.argv[:3] == (str(ENV / "bin" / "python"), str(HOOKS / "serve.py"), "hypercorn.__main__:main")  # its workers exit with it
    assert plan.failure_marker is not None and plan.stop.kind == "signal"


def test_granian_argv():
    plan = asgi_plan("granian", flags={"graceful_timeout": "4", "processes": "2"})
    argv = plan.argv
    assert after(argv, "--interface") == "asgi" and after(argv, "--workers") == "2" and after(argv, "--workers-kill-timeout") == "4"
    assert "--access-log" not in argv  # Granian's own costs a third of its throughput: warp's module writes it
    assert "--respawn-failed-workers" in argv  # else a worker that dies stops the server
    assert argv[:3] == (str(ENV / "bin" / "python"), str(HOOKS / "serve.py"), "granian.cli:entrypoint")  # its workers exit with it
    assert argv[-1] == f"{RUN / 'warp_asgi.py'}:application"
    source = plan.files[RUN / "warp_asgi.py"]
    assert "application = _access_logged(application)" in source and "lifespan.startup" not in source  # Granian stops on a failed startup by itself
    assert asgi_plan("granian", reload=True).argv[-1] == f"{RUN / 'warp_asgi.py'}:application"  # the ready pipe
    assert not servers.ADAPTERS["granian"].takes_socket  # no fd option: --reload restarts it in turn


def test_asgi_servers_install_servestatic_and_gunicorn_adds_it_for_asgi_only():
    assert "servestatic" in servers.ADAPTERS["gunicorn"].find_packages("asgi")
    assert "servestatic" not in servers.ADAPTERS["gunicorn"].find_packages("wsgi")
    assert servers.ADAPTERS["uvicorn"].find_packages("asgi")[0] == "uvicorn"


@pytest.mark.parametrize("server, expected", [("uvicorn", ["--uds", "/run/app.sock"]), ("hypercorn", ["--bind", "unix:/run/app.sock"]),
                                              ("granian", ["--uds", "/run/app.sock"]), ("gunicorn", ["--bind", "unix:/run/app.sock"])])
def test_asgi_servers_listen_on_a_unix_socket(server, expected):
    plan = asgi_plan(server, flags={"socket": "/run/app.sock"})
    assert contains_run(plan.argv, expected) and "--port" not in plan.argv and plan.socket_protocol == "http"


def _tools(directory, *names: str) -> str:
    directory.mkdir(exist_ok=True)
    for name in names:
        tool = directory / name
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    return str(directory)


def test_uwsgi_build_needs_pcre_for_the_static_routes_and_says_what_to_install(tmp_path):
    """Without pcre2-config uWSGI compiles without routing and then refuses --response-route-if at start."""
    uwsgi = servers.ADAPTERS["uwsgi"]
    with pytest.raises(StepFailed) as failed:
        uwsgi.check_build({"PATH": _tools(tmp_path / "bin", "gcc")})
    assert "without PCRE" in failed.value.message and "libpcre2-dev" in failed.value.hint
    uwsgi.check_build({"PATH": _tools(tmp_path / "bin", "gcc", "pcre2-config")})
    with pytest.raises(StepFailed, match="no C compiler"):
        uwsgi.check_build({"PATH": _tools(tmp_path / "empty")})


def decision(plan, name):
    return next((d for d in plan.decisions if d.name == name), None)


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

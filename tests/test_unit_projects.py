"""Pure decisions about projects: the root, the env's name, the Python, the workspace's lock, what the plan says."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from planning import ENV, MODULE, make_app, make_facts, make_project, make_settings, start

from warp.config.project import Workspace, scan_workspace
from warp.env.pythons import Interpreter, Request, find_python_because, find_python_need
from warp.env.venv import find_free_env, find_project_root
from warp.frameworks import Mode, find_django_settings, find_mode
from warp.plan import find_dependency_inputs, make_start_plan


def plan_named_app(server: str, interface: str):
    """The start plan of an app named with --app, which its interpreter found to be ``interface``."""
    return make_start_plan(make_facts(app=make_app(), installed={}), mode=Mode("wsgi", "from --app", MODULE), target=MODULE,
                           interface=interface, interface_because="found by importing it", server=server, server_because="from --server")


@pytest.mark.parametrize("server, interface", [("uvicorn", "asgi"), ("gunicorn", "asgi"), ("gunicorn", "wsgi")])
def test_the_mode_of_a_named_app_agrees_with_its_interface(server, interface):
    """Litestar's or Quart's app named with --app is ASGI: "mode wsgi" beside "interface asgi" is not true."""
    plan = plan_named_app(server, interface)
    decisions = {d.name: (d.value, d.because) for d in plan.decisions}
    assert plan.mode == interface and decisions["mode"] == (interface, "from --app") and decisions["interface"][0] == interface


SETTINGS_CASES = [
    ("manage.py's default", (), {}, "config.settings.local", "manage.py sets DJANGO_SETTINGS_MODULE=config.settings.local"),
    (".warp/environment", (("DJANGO_SETTINGS_MODULE", "config.settings.production"),), {}, "config.settings.production",
     "DJANGO_SETTINGS_MODULE=config.settings.production from .warp/environment, not manage.py's default config.settings.local"),
    ("the later line of .warp/environment", (("DJANGO_SETTINGS_MODULE", "a"), ("DJANGO_SETTINGS_MODULE", "config.settings.test")), {},
     "config.settings.test", "from .warp/environment"),
    ("the environment", (), {"DJANGO_SETTINGS_MODULE": "config.settings.staging"}, "config.settings.staging",
     "from the environment variable DJANGO_SETTINGS_MODULE, not manage.py's default"),
    (".warp/environment over the environment", (("DJANGO_SETTINGS_MODULE", "config.settings.production"),),
     {"DJANGO_SETTINGS_MODULE": "config.settings.staging"}, "config.settings.production", "from .warp/environment"),
    ("the same as manage.py's", (("DJANGO_SETTINGS_MODULE", "config.settings.local"),), {}, "config.settings.local",
     "manage.py sets DJANGO_SETTINGS_MODULE=config.settings.local"),
]


@pytest.mark.parametrize("case, file_vars, environ, module, because", SETTINGS_CASES, ids=[c[0] for c in SETTINGS_CASES])
def test_the_django_mode_says_the_settings_module_that_runs(case, file_vars, environ, module, because):
    app = find_django_settings(make_app(manage_py=True, django_settings="config.settings.local"), file_vars, environ)
    mode = find_mode(app, make_settings(), make_project(environment=file_vars))
    assert app.django_settings == module and mode.name == "django" and because in mode.because, (case, mode.because)


def test_a_settings_module_set_without_a_django_manage_py_changes_nothing():
    app = make_app(app_py=True)
    assert find_django_settings(app, (("DJANGO_SETTINGS_MODULE", "x.settings"),), {}) is app


def make_tree(root: Path, *paths: str) -> None:
    for path in paths:
        target = root / path
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("")


ROOT_CASES = [
    # (case, files, recorded (relative), cwd, expected root, why contains)
    ("a marker in the directory itself", ["p/requirements.txt", "p/src/"], [], "p", "p", ""),
    ("a marker two levels up", ["p/pyproject.toml", "p/flaskr/templates/"], [], "p/flaskr/templates", "p", "it holds pyproject.toml"),
    ("an env made for a parent", ["p/app/x/"], ["p"], "p/app/x", "p", "its env was made there"),
    ("the nearest wins: a member's own pyproject.toml", ["ws/pyproject.toml", "ws/apps/web/pyproject.toml"], ["ws"], "ws/apps/web", "ws/apps/web", ""),
    ("the nearest wins: an env made for the directory", ["ws/pyproject.toml", "ws/apps/web/"], ["ws/apps/web"], "ws/apps/web", "ws/apps/web", ""),
    ("Django's inner package is not a root", ["site/manage.py", "site/mysite/wsgi.py", "site/mysite/asgi.py"], [], "site/mysite", "site", "manage.py"),
    ("warp's own settings", ["p/.warp/", "p/sub/"], [], "p/sub", "p", ".warp/"),
    ("nothing found: a new project", ["new/sub/"], [], "new/sub", "new/sub", ""),
    ("not above a repository's top", ["outer/requirements.txt", "outer/repo/.git/", "outer/repo/sub/"], [], "outer/repo/sub", "outer/repo/sub", ""),
    ("the repository's top itself", ["repo/.git/", "repo/requirements.txt", "repo/sub/"], [], "repo/sub", "repo", "requirements.txt"),
    ("never the home directory", ["home/requirements.txt", "home/code/sub/"], [], "home/code/sub", "home/code/sub", ""),
    ("never above the home directory", ["requirements.txt", "home/code/"], [], "home/code", "home/code", ""),
]


@pytest.mark.parametrize("case, files, recorded, cwd, expected, why", ROOT_CASES, ids=[c[0] for c in ROOT_CASES])
def test_the_project_root_is_found_from_any_directory_in_it(tmp_path, case, files, recorded, cwd, expected, why):
    make_tree(tmp_path, *files, "home/")
    found, because = find_project_root(tmp_path / cwd, {str(tmp_path / path): object() for path in recorded}, {"HOME": str(tmp_path / "home")})
    assert found == tmp_path / expected and why in because and bool(because) == (expected != cwd), (case, because)


def test_a_new_env_takes_a_free_name_when_another_directory_has_its_name(tmp_path):
    home = tmp_path / "warp-home"
    taken = home / "envs" / "site" / ".warp"
    taken.mkdir(parents=True)
    (taken / "env.json").write_text('{"name": "site", "source": "/srv/a/site"}')
    assert find_free_env(home, Path("/srv/b/site")).name == "site-2"
    assert find_free_env(home, Path("/srv/b/blog")).name == "blog"


UV_SAYS = (
    "error: No solution found when resolving dependencies\n"
    "  cause: Because the current Python version (3.11.7) does not satisfy Python>=3.12 and django>=6.1 depends on Python>=3.12, "
    "we can conclude that django>=6.1 cannot be used.\n"
)
#: The same, as uv wraps it on a narrow terminal or in a log.
UV_WRAPS = (
    "error: No solution found when resolving dependencies\n"
    "  cause: Because the current Python version (3.11.2) does not satisfy\n"
    "         Python>=3.12 and django>=6.1 depends on Python>=3.12, we can conclude\n"
    "         that django>=6.1 cannot be used.\n"
)
PIP_SAYS = (
    "ERROR: Ignored the following versions that require a different python version: 6.0 Requires-Python >=3.12; 6.1 Requires-Python >=3.12\n"
    "ERROR: Could not find a version that satisfies the requirement Django>=6.1 (from versions: 1.1.3, 5.2.8)\n"
    "ERROR: No matching distribution found for Django>=6.1\n"
)
MACHINE = [Interpreter("/py/3.9", "3.9.18"), Interpreter("/py/3.11", "3.11.7"), Interpreter("/py/3.12", "3.12.1"), Interpreter("/py/3.13", "3.13.0")]
REQUIRES = "requires-python in pyproject.toml"
NEED_CASES = [
    ("wrapped by uv", UV_WRAPS, None, MACHINE, "3.12.1", False, "django>=6.1 needs Python>=3.12: Python 3.12.1 is on this machine"),
    ("nothing asked: named, with how", UV_SAYS, None, MACHINE, "3.12.1", False,
     'django>=6.1 needs Python>=3.12: Python 3.12.1 is on this machine; build with it (`WARP_PYTHON=3.12 warp build`), '
     'or declare requires-python = ">=3.12" in pyproject.toml and warp takes it'),
    ("requires-python allows it: taken", UV_SAYS, Request(">=3.10", REQUIRES), MACHINE, "3.12.1", True, "allows Python 3.12.1"),
    ("requires-python allows only 3.13", UV_SAYS, Request(">=3.13", REQUIRES), MACHINE, "3.13.0", True, "allows Python 3.13.0"),
    ("requires-python excludes it", UV_SAYS, Request("<3.12", REQUIRES), MACHINE, None, False, "which requires-python in pyproject.toml (<3.12) excludes"),
    ("a pinned version is the user's to change", UV_SAYS, Request("3.11", ".python-version"), MACHINE, "3.12.1", False,
     ".python-version asks for 3.11: ask for 3.12 there"),
    ("WARP_PYTHON is the user's to change", UV_SAYS, Request("/usr/bin/python3", "WARP_PYTHON"), MACHINE, "3.12.1", False, "WARP_PYTHON asks for"),
    ("no Python here has it", UV_SAYS, None, MACHINE[:2], None, False, "no Python on this machine has it (installed: 3.9.18, 3.11.7)"),
    ("pip's words", PIP_SAYS, None, MACHINE, "3.12.1", False, "Django>=6.1 needs Python>=3.12: Python 3.12.1 is on this machine"),
]


@pytest.mark.parametrize("case, output, request_, machine, fitting, automatic, hint", NEED_CASES, ids=[c[0] for c in NEED_CASES])
def test_a_requirement_that_needs_another_python_names_the_python_that_fits(case, output, request_, machine, fitting, automatic, hint):
    need = find_python_need(output, request_, machine)
    assert (need.fitting.version if need.fitting else None, need.automatic) == (fitting, automatic), case
    assert hint in need.hint, (case, need.hint)


def test_an_install_that_failed_for_another_reason_says_nothing_of_python():
    assert find_python_need("error: No solution found: flask==99 not found\n", None, MACHINE) is None


BECAUSE_CASES = [
    ("asked now", Request("3.12", "WARP_PYTHON"), {"python_from": "WARP_PYTHON (3.12)"}, "from WARP_PYTHON (3.12)"),
    ("made from WARP_PYTHON, not asked now", None, {"python_from": "WARP_PYTHON (3.12)"}, "the env's Python, made with WARP_PYTHON (3.12)"),
    ("made for a requirement", Request(">=3.10", REQUIRES),
     {"python_from": "the oldest Python on this machine that django>=6.1 allows (Python>=3.12, within requires-python in pyproject.toml >=3.10)"},
     "the env's Python, made with the oldest Python on this machine that django>=6.1 allows"),
    ("an env made before warp kept why", None, {"python": "/usr/bin/python3.12"}, "the env's Python, the one it was made with (/usr/bin/python3.12)"),
]


@pytest.mark.parametrize("case, request_, meta, because", BECAUSE_CASES, ids=[c[0] for c in BECAUSE_CASES])
def test_the_plan_says_why_the_env_has_its_python(case, request_, meta, because):
    assert find_python_because(request_, meta).startswith(because), case


WORKSPACE = Workspace(Path("/repo"), True, (("apps/api", "api"), ("apps/web", "web"), ("libs/core", "core")))
INPUT_CASES = [
    ("the member's directory", dict(root=Path("/repo/apps/web"), dependency_files=("pyproject.toml",)), {},
     (("../../uv.lock", "../../pyproject.toml", "pyproject.toml"), "uv.lock"), "locks its member apps/web (package web)"),
    ("the root, --home the member", dict(root=Path("/repo"), dependency_files=("uv.lock", "pyproject.toml")), {"home": "apps/web"},
     (("uv.lock", "pyproject.toml", "apps/web/pyproject.toml"), "uv.lock"), "the uv workspace at /repo locks its member apps/web"),
    ("the root's own project", dict(root=Path("/repo"), dependency_files=("uv.lock", "pyproject.toml")), {},
     (("uv.lock", "pyproject.toml"), "uv.lock"), "uv.lock is present"),
    ("a member's requirements.txt comes first", dict(root=Path("/repo/apps/web"), dependency_files=("requirements.txt", "pyproject.toml")), {},
     (("requirements.txt",), "requirements"), "requirements.txt is present"),
    ("a workspace without a lock", dict(root=Path("/repo/apps/web"), dependency_files=("pyproject.toml",), pyproject={"build-system": {}}), {},
     (("pyproject.toml",), "project"), "declares a package"),
]


@pytest.mark.parametrize("case, facts, flags, expected, because", INPUT_CASES, ids=[c[0] for c in INPUT_CASES])
def test_a_uv_workspace_member_installs_from_the_workspace_lock(case, facts, flags, expected, because):
    # the last case has a pyproject.toml of its own and no uv.lock in the workspace
    project = make_project(**facts, workspace=replace(WORKSPACE, has_lock="pyproject" not in facts))
    files, how, said = find_dependency_inputs(project, make_settings(flags))
    assert (files, how) == expected and because in said, (case, files, how, said)


def test_the_workspace_is_the_nearest_that_lists_the_project_among_its_members(tmp_path):
    root = tmp_path / "repo"
    make_tree(root, ".git/", "uv.lock", "apps/web/", "apps/old/", "tools/x/")
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["apps/*"]\nexclude = ["apps/old"]\n')
    for name in ("web", "old"):
        (root / "apps" / name / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "1"\n')
    (root / "tools" / "x" / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    found = scan_workspace(root / "apps" / "web", {})
    assert found == Workspace(root, True, (("apps/web", "web"),))
    assert scan_workspace(root / "apps" / "old", {}) is None and scan_workspace(root / "tools" / "x", {}) is None
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert scan_workspace(outside, {}) is None


@pytest.mark.parametrize("processes, versions, named", [("2", "27.0.1", True), ("2", "23.0.0", False), ("1", "27.0.1", False)])
def test_gunicorn_gets_a_logger_that_names_the_address_where_each_worker_has_its_own_socket(processes, versions, named):
    plan = start("gunicorn", MODULE, flags={"processes": processes}, versions={"gunicorn": versions})
    logger = ENV / ".warp" / "run" / "warp_gunicorn_log.py"
    assert ("--logger-class" in plan.argv) is named and (logger in plan.files) is named
    if named:
        assert plan.argv[plan.argv.index("--logger-class") + 1] == "warp_gunicorn_log.Logger"
        assert str(logger.parent) in plan.argv[plan.argv.index("--pythonpath") + 1].split(",")
        compile(plan.files[logger], str(logger), "exec")

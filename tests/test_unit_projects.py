"""Pure decisions about projects: the root, the env's name, the Python, the workspace's lock, what the plan says."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_unit_plan import ENV, HOOKS, MODULE, WORKSTATION, make_app, make_project, make_settings

from warp.frameworks import Mode, find_django_settings, find_mode
from warp.plan import make_start_plan
from warp.venv import find_free_env, find_project_root


def plan_named_app(server: str, interface: str):
    """The start plan of an app named with --app, which its interpreter found to be ``interface``."""
    return make_start_plan(
        mode=Mode("wsgi", "from --app", MODULE), target=MODULE, server=server, server_because="from --server",
        settings=make_settings(), machine=WORKSTATION, app_environ={"PATH": "/usr/bin"}, masked=frozenset(), env_path=ENV,
        runtime_dir=Path("/tmp/warp-0/0123456789ab"), hooks_dir=HOOKS, app=make_app(), project=make_project(), versions={},
        interface=interface, interface_because="found by importing it",
    )


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


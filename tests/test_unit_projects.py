"""Pure decisions about projects: the root, the env's name, the Python, the workspace's lock, what the plan says."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_unit_plan import ENV, HOOKS, MODULE, WORKSTATION, make_app, make_project, make_settings

from warp.frameworks import Mode, find_django_settings, find_mode
from warp.plan import make_start_plan


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

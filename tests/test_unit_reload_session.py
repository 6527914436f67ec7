"""warp.reload.session: which Django settings files --reload watches (a change there runs collectstatic and plans
again), from the project's files and its environment."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from warp.config.project import AppFacts
from warp.reload import session


def django_ctx(home: Path, settings: str | None, environ: dict | None = None, manage_py: bool = True):
    app = AppFacts(home=home, manage_py=manage_py, django_settings=settings)
    return SimpleNamespace(app=app, app_environ=lambda: {"DJANGO_SETTINGS_MODULE": settings, **(environ or {})} if settings else dict(environ or {}))


@pytest.mark.parametrize("layout, module, watched", [
    (["mysite/settings.py"], "mysite.settings", "mysite/settings.py"),
    (["mysite/settings/__init__.py", "mysite/settings/base.py"], "mysite.settings", "mysite/settings"),
    (["config/settings/base.py", "config/settings/production.py"], "config.settings.production", "config/settings"),
    (["settings.py"], "settings", "settings.py"),
])
def test_the_django_settings_watched_are_the_module_or_its_package(tmp_path, layout, module, watched):
    for name in layout:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert session.find_settings_files(django_ctx(tmp_path, module)) == (tmp_path / watched,)


def test_the_environments_django_settings_module_is_the_one_watched(tmp_path):
    ctx = django_ctx(tmp_path, "mysite.settings", {"DJANGO_SETTINGS_MODULE": "mysite.production"})
    assert session.find_settings_files(ctx) == (tmp_path / "mysite/production.py",)


def test_a_project_that_is_not_django_watches_no_settings(tmp_path):
    assert session.find_settings_files(django_ctx(tmp_path, "mysite.settings", manage_py=False)) == ()
    assert session.find_settings_files(django_ctx(tmp_path, None)) == ()

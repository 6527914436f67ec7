"""What --reload watches and what each change asks for (pure)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from warp.errors import UsageError
from warp.reload import watch
from warp.reload.watch import Reaction, classify, find_kind, is_excluded

ROOT = Path("/srv/app")


@pytest.mark.parametrize(
    "path, kind",
    [
        ("wsgi.py", "restart"),
        ("pkg/views.py", "restart"),
        ("templates/index.html", "restart"),
        ("templates/mail.txt", "restart"),
        ("templates/base.jinja2", "restart"),
        ("paste.ini", "restart"),
        ("app.sh", "restart"),
        (".env", "settings"),  # settings modules read it
        ("requirements.txt", "install"),
        ("requirements-dev.txt", "install"),
        ("pyproject.toml", "install"),
        ("uv.lock", "install"),
        (".warp/environment", "config"),
        (".warp/action_hooks/deploy", "config"),
        ("static/site.css", "static"),
        ("assets/app.js", "static"),
        ("media/upload.png", "static"),
        ("app.log", None),
        ("db.sqlite3", None),
        ("data/cache.bin", None),
        (".git/index", None),
        ("pkg/__pycache__/views.cpython-311.pyc", None),
        ("node_modules/x/index.js", None),
        (".venv/lib/site.py", None),
        ("docs/notes.md", None),
    ],
)
def test_kind_of_each_change(path, kind):
    assert find_kind(ROOT, ROOT / path) == kind


# A file each of these directories may hold, with a suffix that is watched anywhere else.
IGNORED = [
    ".git/hooks/pre_commit.py",
    "vendor/lib/.git/info/attributes.txt",
    ".hg/patches/fix.py",
    ".svn/pristine/wsgi.py",
    "__pycache__/wsgi.py",
    "pkg/__pycache__/views.py",
    "node_modules/x/index.js",
    "frontend/node_modules/x/README.html",
    ".venv/lib/site.py",
    "venv/lib/python3.12/site-packages/django/__init__.py",
    ".tox/py312/lib/python3.12/site-packages/flask/app.py",
    ".nox/tests/bin/activate.sh",
    ".mypy_cache/3.12/wsgi.pyi",
    ".pytest_cache/README.txt",
    ".ruff_cache/0.6.0/settings.toml",
    "wheelhouse/pkg/setup.cfg",
]


@pytest.mark.parametrize("path", IGNORED)
def test_files_in_ignored_directories_are_never_watched(path):
    assert find_kind(ROOT, ROOT / PurePosixPath(path).name) is not None  # the same file elsewhere is watched
    assert find_kind(ROOT, ROOT / path) is None


def test_paths_outside_the_tree_and_excluded_dirs_are_ignored():
    assert find_kind(ROOT, Path("/elsewhere/x.py")) is None
    collected = ROOT / "staticfiles"
    assert find_kind(ROOT, collected / "admin/base.css", (collected,)) is None
    assert find_kind(ROOT, ROOT / "env/bin/x.py", (ROOT / "env",)) is None


@pytest.mark.parametrize(
    "path, patterns, excluded",
    [
        ("media/a.py", ("media/",), True),
        ("x/media/a.py", ("media/",), True),
        ("media.py", ("media/",), False),
        ("logs/app.py", ("*.py",), True),
        ("generated/out.html", ("generated/*",), True),
        ("src/generated/out.html", ("generated/*",), False),
        ("a/b/c.py", ("a/b/*",), True),
        ("a.py", ("# comment", ""), False),
    ],
)
def test_reload_exclude_patterns_are_gitignore_like(path, patterns, excluded):
    assert is_excluded(PurePosixPath(path), patterns) is excluded


def test_a_batch_asks_for_its_strongest_reaction():
    batch = {str(ROOT / "static/site.css"), str(ROOT / "wsgi.py"), str(ROOT / "requirements.txt"), str(ROOT / "app.log")}
    assert classify(ROOT, batch) == Reaction("install", "requirements.txt", collect=True)
    # A code edit and a static edit in one batch (a `git pull`): the restart, and the static files collected too.
    assert classify(ROOT, {str(ROOT / "static/a.css"), str(ROOT / "v.py")}) == Reaction("restart", "v.py", collect=True)
    assert classify(ROOT, {str(ROOT / "v.py")}) == Reaction("restart", "v.py", collect=False)
    assert classify(ROOT, {str(ROOT / "app.log"), str(ROOT / "db.sqlite3")}) is None


def test_the_django_settings_module_or_package_asks_for_a_new_plan():
    settings = (ROOT / "mysite/settings.py", ROOT / "config/settings")
    assert find_kind(ROOT, ROOT / "mysite/settings.py", settings=settings) == "settings"
    assert find_kind(ROOT, ROOT / "config/settings/base.py", settings=settings) == "settings"
    assert find_kind(ROOT, ROOT / "mysite/urls.py", settings=settings) == "restart"
    batch = {str(ROOT / "mysite/settings.py"), str(ROOT / "mysite/views.py")}
    assert classify(ROOT, batch, settings=settings) == Reaction("settings", "mysite/settings.py")


@pytest.mark.parametrize("tool, excludes", [
    ({}, ()),
    ({"reload-exclude": "media/"}, ("media/",)),
    ({"reload-exclude": ["media/", "*.log"]}, ("media/", "*.log")),
])
def test_reload_excludes_come_from_the_project(tool, excludes):
    assert watch.find_reload_excludes(tool) == excludes


@pytest.mark.parametrize("value", [3, ["media/", 3], {"media": True}])
def test_reload_excludes_that_are_not_patterns_are_refused(value):
    with pytest.raises(UsageError) as caught:
        watch.find_reload_excludes({"reload-exclude": value})
    assert caught.value.message == "[tool.warp] reload-exclude must be a list of patterns"
    assert caught.value.hint == 'write it as reload-exclude = ["media/", "*.log"]'

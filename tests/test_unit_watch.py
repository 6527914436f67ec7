"""What --reload watches and what each change asks for (pure)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from warp.watch import Reaction, classify, find_kind, is_excluded

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
        (".env", "restart"),
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
    assert classify(ROOT, batch) == Reaction("install", "requirements.txt")
    assert classify(ROOT, {str(ROOT / "static/a.css"), str(ROOT / "v.py")}) == Reaction("restart", "v.py")
    assert classify(ROOT, {str(ROOT / "app.log"), str(ROOT / "db.sqlite3")}) is None

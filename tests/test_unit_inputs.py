"""warp.env.inputs, the build's inputs as they are on disk: which change makes a new key, and which does not."""

from __future__ import annotations

import pytest

from warp.env.inputs import scan_digests


@pytest.fixture
def project(tmp_path):
    (tmp_path / "requirements.txt").write_text("flask\n./libs/mylib\n-r base.txt\n")
    (tmp_path / "base.txt").write_text("six\n")
    lib = tmp_path / "libs" / "mylib"
    (lib / "mylib").mkdir(parents=True)
    (lib / "pyproject.toml").write_text('[project]\nname = "mylib"\nversion = "1.0"\n')
    (lib / "mylib" / "__init__.py").write_text("VALUE = 1\n")
    return tmp_path


CHANGES = {
    "a requirement": ("requirements.txt", "flask\n./libs/mylib\n-r base.txt\nrequests\n", True),
    "an included file": ("base.txt", "six\niniconfig\n", True),
    "the local package's code": ("libs/mylib/mylib/__init__.py", "VALUE = 2\n", True),
    "the local package's version": ("libs/mylib/pyproject.toml", '[project]\nname = "mylib"\nversion = "2.0"\n', True),
    "a new module in the local package": ("libs/mylib/mylib/extra.py", "", True),
    # What its install does not read, or writes itself
    "its bytecode": ("libs/mylib/mylib/__pycache__/__init__.cpython-311.pyc", "x", False),
    "its build directory": ("libs/mylib/build/lib/mylib/__init__.py", "x", False),
    "its egg-info": ("libs/mylib/mylib.egg-info/PKG-INFO", "x", False),
    "its git data": ("libs/mylib/.git/HEAD", "x", False),
    "a virtualenv inside it": ("libs/mylib/venv/pyvenv.cfg", "x", False),
    "a file of the project outside the inputs": ("media/upload.jpg", "x", False),
}


@pytest.mark.parametrize("path, text, changes", CHANGES.values(), ids=CHANGES)
def test_which_change_makes_new_digests(project, path, text, changes):
    before = scan_digests(project, ("requirements.txt",))
    (project / path).parent.mkdir(parents=True, exist_ok=True)
    (project / path).write_text(text)
    after = scan_digests(project, ("requirements.txt",))
    assert (after != before) is changes
    assert scan_digests(project, ("requirements.txt",)) == after  # the same inputs, the same digests


def test_the_same_content_with_a_new_mtime_is_the_same_input(project):
    import os

    before = scan_digests(project, ("requirements.txt",))
    for path in (project / "requirements.txt", project / "libs" / "mylib" / "mylib" / "__init__.py"):
        os.utime(path, (1, 1))
    assert scan_digests(project, ("requirements.txt",)) == before


EDITABLE = {
    "its metadata": ("libs/mylib/pyproject.toml", '[project]\nname = "mylib"\nversion = "2.0"\n', True),
    "a setup.py beside it": ("libs/mylib/setup.py", "from setuptools import setup\nsetup()\n", True),
    # Imported in place: an editable install is not made again for its code
    "its code": ("libs/mylib/mylib/__init__.py", "VALUE = 2\n", False),
    "a new module": ("libs/mylib/mylib/extra.py", "", False),
}


@pytest.mark.parametrize("path, text, changes", EDITABLE.values(), ids=EDITABLE)
def test_an_editable_local_package_is_an_input_by_its_metadata(project, path, text, changes):
    (project / "requirements.txt").write_text("flask\n-e ./libs/mylib\n-r base.txt\n")
    before = scan_digests(project, ("requirements.txt",))
    (project / path).write_text(text)
    assert (scan_digests(project, ("requirements.txt",)) != before) is changes

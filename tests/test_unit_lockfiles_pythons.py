"""poetry.lock conversion and the choice of Python (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from warp.config.lockfiles import find_missing_poetry_package, is_poetry_package, make_poetry_requirements
from warp.config.project import ProjectFacts
from warp.config.settings import find_settings
from warp.env.pythons import Interpreter, Request, choose, find_request, matches, normalize
from warp.errors import UsageError

POETRY_2 = """
[[package]]
name = "flask"
version = "2.3.3"
groups = ["main"]
files = []

[[package]]
name = "colorama"
version = "0.4.6"
groups = ["main", "dev"]
markers = {main = "platform_system == \\"Windows\\"", dev = "sys_platform == \\"win32\\""}

[[package]]
name = "pytest"
version = "8.0.0"
groups = ["dev"]

[[package]]
name = "mylib"
version = "1.0"
groups = ["main"]
[package.source]
type = "git"
url = "https://example.org/mylib.git"
reference = "main"
resolved_reference = "abc123"
"""

POETRY_1 = """
[[package]]
name = "flask"
version = "2.0.0"
category = "main"
optional = false

[[package]]
name = "pytest"
version = "7.0.0"
category = "dev"
"""


def test_poetry_2_lock_main_group_pinned_with_markers():
    assert make_poetry_requirements(POETRY_2) == [
        "flask==2.3.3",
        'colorama==0.4.6 ; platform_system == "Windows"',
        "mylib @ git+https://example.org/mylib.git@abc123",
    ]


def test_poetry_1_lock_uses_categories():
    assert make_poetry_requirements(POETRY_1) == ["flask==2.0.0"]


def test_broken_poetry_lock_is_a_usage_error():
    with pytest.raises(UsageError, match="poetry.lock is not valid TOML"):
        make_poetry_requirements("[[package]\nname=")


@pytest.mark.parametrize(
    "pyproject, expected",
    [({"build-system": {}}, True), ({"build-system": {}, "tool": {"poetry": {"package-mode": False}}}, False), ({}, False)],
)
def test_poetry_package_mode(pyproject, expected):
    assert is_poetry_package(pyproject) is expected


@pytest.mark.parametrize(
    "raw, expected", [("python-3.12.1", "3.12.1"), ("python3.12", "3.12"), ("cpython@3.11", "3.11"), ("3.10", "3.10"), (">=3.9", ">=3.9")]
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "version, request_, expected",
    [("3.12.1", "3.12", True), ("3.12.1", "3.12.1", True), ("3.12.1", "3.1", False), ("3.11.7", ">=3.10", True),
     ("3.9.18", ">=3.10", False), ("3.13.0", ">=3.10,<3.13", False)],
)
def test_matches(version, request_, expected):
    assert matches(version, request_) is expected


MACHINE = [Interpreter("/p/3.9", "3.9.18"), Interpreter("/p/3.12", "3.12.1"), Interpreter("/p/3.13", "3.13.0")]
CURRENT = Interpreter("/usr/bin/python3.11", "3.11.2")


@pytest.mark.parametrize(
    "request_, expected",
    [("3.12", "/p/3.12"), ("3.11", "/usr/bin/python3.11"), (">=3.10", "/usr/bin/python3.11"), (">=3.12", "/p/3.13"), ("<3.10", "/p/3.9")],
)
def test_choose_prefers_the_current_interpreter_then_the_newest(request_, expected):
    assert choose(Request(request_, ".python-version"), MACHINE, CURRENT).path == expected


def test_choose_lists_what_is_installed_when_nothing_fits():
    with pytest.raises(UsageError) as caught:
        choose(Request("3.99", ".python-version"), MACHINE, CURRENT)
    assert caught.value.message == "Python 3.99 (from .python-version) is not installed on this machine; installed: 3.9.18, 3.12.1, 3.13.0"


def make_project(**facts):
    base = dict(root=Path("/srv"), dependency_files=(), warp_files={}, tool={}, environment=(), hooks={}, server_args={})
    return ProjectFacts(**{**base, **facts})


@pytest.mark.parametrize(
    "flags, environ, facts, expected",
    [
        ({"python": "3.13"}, {"WARP_PYTHON": "3.12"}, {"python_version_file": "3.11"}, Request("3.13", "--python")),
        ({}, {"WARP_PYTHON": "3.12"}, {"python_version_file": "3.11"}, Request("3.12", "WARP_PYTHON")),
        ({}, {}, {"python_version_file": "3.11", "runtime_txt": "python-3.10.1"}, Request("3.11", ".python-version")),
        ({}, {}, {"runtime_txt": "python-3.10.1", "pyproject": {"project": {"requires-python": ">=3.9"}}}, Request("python-3.10.1", "runtime.txt")),
        ({}, {}, {"pyproject": {"project": {"requires-python": ">=3.9"}}}, Request(">=3.9", "requires-python in pyproject.toml")),
        ({}, {}, {}, None),
    ],
)
def test_python_request_precedence(flags, environ, facts, expected):
    project = make_project(**facts)
    assert find_request(find_settings(flags, environ, {}, {}), project) == expected


POETRY_CORE = {"requires": ["poetry-core>=2.0.0,<3.0.0"], "build-backend": "poetry.core.masonry.api"}


def poetry_project(name="My.Web-App", backend=POETRY_CORE, **poetry):
    table = {"project": {"name": name}, "build-system": backend}
    return {**table, "tool": {"poetry": poetry}} if poetry else table


@pytest.mark.parametrize(
    "pyproject, top_level, missing",
    [
        # poetry-core looks for NAME/, NAME.py, src/NAME/, src/NAME.py, NAME normalized: my_web_app
        (poetry_project(), {"wsgi.py", "templates/"}, "my_web_app"),
        (poetry_project(), {"my_web_app/"}, None),
        (poetry_project(), {"my_web_app.py"}, None),
        (poetry_project(), {"src/", "src/my_web_app/"}, None),
        (poetry_project(), {"src/", "src/my_web_app.py"}, None),
        (poetry_project(), {"My.Web-App/", "my-web-app.py", "src/"}, "my_web_app"),
        (poetry_project(), {"my_web_app/", "my_web_app.py"}, None),  # poetry-core's own error, left to it
        # the name from [tool.poetry] when [project] has none
        ({"build-system": POETRY_CORE, "tool": {"poetry": {"name": "shop"}}}, {"app.py"}, "shop"),
        ({"build-system": POETRY_CORE, "tool": {"poetry": {"name": "shop"}}}, {"shop/"}, None),
        # packages named: poetry-core takes them (for wheels, which an editable install builds)
        (poetry_project(packages=[{"include": "web"}]), set(), None),
        (poetry_project(packages=[{"include": "web", "format": ["sdist", "wheel"]}]), set(), None),
        (poetry_project(packages=[{"include": "web", "format": "wheel"}]), set(), None),
        (poetry_project(packages=[{"include": "web", "format": "sdist"}]), set(), "my_web_app"),
        # another build backend finds packages its own way
        (poetry_project(backend={"requires": ["hatchling"], "build-backend": "hatchling.build"}), set(), None),
        ({"build-system": POETRY_CORE}, set(), None),  # no name: poetry-core's own error
    ],
)
def test_missing_poetry_package(pyproject, top_level, missing):
    assert find_missing_poetry_package(pyproject, frozenset(top_level)) == missing

"""`warp activate`, `warp list` and `warp env` say their last output again while nothing they read changed (warp.recall)."""

from __future__ import annotations

import re

import pytest

from conftest import warp
from warp import __version__

pytestmark = pytest.mark.e2e

#: Each import prints a line on stderr: a full run imports click; one said again none of these.
IMPORT_TIMES = {"PYTHONPROFILEIMPORTTIME": "1"}
HEAVY = ("click", "dataclasses", "typing", "pathlib", "json", "subprocess")


def run(project, home, *args: str, env: dict | None = None, check: bool = True):
    """(stdout, stderr without the import lines, whether anything heavy was imported) of ``warp ARGS``."""
    result = warp(*args, cwd=project, home=home, env={**IMPORT_TIMES, **(env or {})}, check=check)
    warps = result.stderr[re.search(r"^import time: .*\|\s+warp$", result.stderr, re.MULTILINE).start():]  # not site's .pth files
    imports = re.findall(r"^import time: .*\|\s+(\S+)$", warps, re.MULTILINE)
    stderr = "".join(line + "\n" for line in result.stderr.splitlines() if not line.startswith("import time:"))
    return result.stdout, stderr, any(module in imports for module in HEAVY)


def make_project(path, environment: str = ""):
    path.mkdir()
    (path / "wsgi.py").write_text("def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n")
    if environment:
        (path / ".warp").mkdir()
        (path / ".warp" / "environment").write_text(environment)
    return path


@pytest.fixture
def project(tmp_path):
    """A project with its env (made by `warp activate`), and its WARP_HOME."""
    home = tmp_path / "home"
    source = make_project(tmp_path / "shop", "SECRET_KEY=hunter2\n")
    warp("activate", cwd=source, home=home)
    return source, home


@pytest.mark.parametrize("command", [["activate"], ["list"], ["env"], ["activate", "--shell", "fish"]])
def test_the_same_command_again_says_the_same_without_importing_click_or_json(project, command):
    source, home = project
    first = run(source, home, *command)
    assert first[2], "the first run is the full command"
    again = run(source, home, *command)
    assert again == (first[0], first[1], False)
    assert first[0]  # it printed something: the env's exports, the table of envs
    assert list((home / "said").iterdir())


def test_activate_that_creates_an_env_is_not_kept_and_the_next_one_is(tmp_path):
    home = tmp_path / "home"
    source = make_project(tmp_path / "blog")
    made = run(source, home, "activate")
    assert "Created env blog" in made[1] and not (home / "said").exists()
    full = run(source, home, "activate")
    assert full[2] and "Created env" not in full[1] and full[0] == made[0]
    assert run(source, home, "activate") == (made[0], "", False)


def test_list_shows_an_env_made_or_destroyed_since(project, tmp_path):
    source, home = project
    run(source, home, "list")
    assert not run(source, home, "list")[2]
    other = make_project(tmp_path / "blog")
    warp("activate", cwd=other, home=home)
    out, _, full = run(source, home, "list")
    assert full and re.search(r"^blog\s", out, re.MULTILINE) and re.search(r"^shop\s", out, re.MULTILINE)
    warp("destroy", "blog", "--yes", cwd=source, home=home)
    out, _, full = run(source, home, "list")
    assert full and not re.search(r"^blog\s", out, re.MULTILINE)


def test_activate_follows_the_shell_and_path_but_not_a_new_terminals_own_variables(project):
    source, home = project
    bash = run(source, home, "activate", env={"SHELL": "/bin/bash", "SHLVL": "1"})
    assert run(source, home, "activate", env={"SHELL": "/bin/bash", "SHLVL": "3", "OLDPWD": "/tmp"}) == (bash[0], "", False)
    fish = run(source, home, "activate", env={"SHELL": "/usr/bin/fish"})
    assert fish[2] and "set -gx WARP_ENV_NAME 'shop';" in fish[0]
    moved = run(source, home, "activate", env={"SHELL": "/bin/bash", "PATH": "/opt/tools/bin:/usr/bin:/bin"})
    assert moved[2] and ":/opt/tools/bin:/usr/bin:/bin;" in moved[0]


def test_env_follows_the_project_and_the_environment(project):
    source, home = project
    first = run(source, home, "env")
    assert not run(source, home, "env")[2]
    assert "SECRET_KEY" in first[1]  # named as not printed
    (source / ".warp" / "environment").write_text("SECRET_KEY=hunter2\nAPI_TOKEN=swordfish\n")
    edited = run(source, home, "env")
    assert edited[2] and "API_TOKEN" in edited[1]
    other = run(source, home, "env", env={"PYTHONPATH": "/srv/lib"})
    assert other[2] and f"PYTHONPATH={source}:/srv/lib" in other[0]


def test_the_secrets_are_never_kept(project):
    source, home = project
    for _ in range(2):
        out, _, full = run(source, home, "env", "--show-secrets")
        assert full and "hunter2" in out
    run(source, home, "env")
    kept = list((home / "said").iterdir())
    assert kept and not any(b"hunter2" in path.read_bytes() for path in kept)
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in kept)


def test_a_damaged_record_is_a_full_run(project):
    source, home = project
    first = run(source, home, "list")
    for path in (home / "said").iterdir():
        path.write_bytes(b"\x00not a record")
    assert run(source, home, "list") == (first[0], first[1], True)
    assert run(source, home, "list") == (first[0], first[1], False)


def test_version_says_what_click_says(tmp_path):
    quick = run(tmp_path, tmp_path / "home", "--version")
    clicks = run(tmp_path, tmp_path / "home", "-q", "--version")
    assert clicks[2] and not quick[2]
    assert quick[:2] == clicks[:2] == (f"warp, version {__version__}\n", "")

"""Modern projects: uv.lock, poetry.lock, Pipfile.lock, the Python a project asks for, offline builds."""

from __future__ import annotations

import shutil

import pytest

from conftest import APPS, BuiltApp, warp

pytestmark = pytest.mark.e2e

CLOSED_INDEX = "http://127.0.0.1:9/simple"  # nothing listens on port 9: any index access fails


def copy_app(name, tmp_path):
    project = tmp_path / name
    shutil.copytree(APPS / name, project)
    return project, tmp_path / "home"


def installed_version(project, home, package, env=None):
    script = f"from importlib.metadata import version; print(version({package!r}))"
    return warp("exec", "python", "-c", script, cwd=project, home=home, env=env).stdout.strip()


@pytest.mark.parametrize(
    "app, lock, flask, locked_count",
    [("uv_app", "uv.lock", "3.0.3", 7), ("poetry_app", "poetry.lock", "2.3.3", 7), ("pipenv_app", "Pipfile.lock", "3.0.0", 7)],
)
def test_a_locked_project_builds_and_serves_exactly_the_locked_versions(app, lock, flask, locked_count, tmp_path, run_warp):
    project, home = copy_app(app, tmp_path)
    result = warp("build", cwd=project, home=home)
    assert f" -----> Reading {lock} (default group, exact versions)" in result.stderr
    assert installed_version(project, home, "flask") == flask
    assert installed_version(project, home, "werkzeug") != ""
    pinned = (home / "envs" / app / ".warp" / "requirements.locked.txt").read_text().splitlines()
    assert len([line for line in pinned if "==" in line]) == locked_count
    if app == "pipenv_app":  # the dev group (pytest) is not installed
        missing = warp("exec", "python", "-c", "import pytest", cwd=project, home=home, check=False)
        assert missing.returncode != 0
    running = run_warp(BuiltApp(app, project, home))
    running.wait_ready("/")
    assert running.get("/") == (200, f"{app.split('_')[0]} app on flask {flask}")
    running.stop()
    plan = warp("plan", "--host", "127.0.0.1", cwd=project, home=home).stdout
    assert f"because {lock} is present" in plan


NOT_A_PACKAGE = (
    "warning: the project itself is not installed, only its dependencies: Poetry's package mode finds no package "
    "poetry_flask (no poetry_flask/ or poetry_flask.py, at the top or in src/, and no [tool.poetry] packages); the app "
    "is served from the source tree (set [tool.poetry] package-mode = false to say so)"
)


def test_a_poetry_project_with_no_package_builds_its_locked_dependencies_and_serves(tmp_path, run_warp):
    """`poetry init` + `poetry add flask` in a directory with a wsgi.py and no package of the project's name."""
    project, home = copy_app("poetry_flask", tmp_path)
    built = warp("build", cwd=project, home=home)
    assert built.stderr.count(NOT_A_PACKAGE) == 1
    assert built.stderr.count("warning:") == 1
    assert installed_version(project, home, "flask") == "3.1.3"
    missing = warp("exec", "python", "-c", "from importlib.metadata import version; version('poetry-flask')", cwd=project, home=home, check=False)
    assert "PackageNotFoundError" in missing.stderr
    running = run_warp(BuiltApp("poetry_flask", project, home))
    running.wait_ready("/")
    assert running.get("/") == (200, "poetry flask app on flask 3.1.3")
    running.stop()
    assert "warning:" not in running.output()


def test_a_poetry_project_that_gains_its_package_installs_it_and_a_broken_package_fails(tmp_path):
    project, home = copy_app("poetry_flask", tmp_path)
    assert NOT_A_PACKAGE in warp("build", cwd=project, home=home).stderr
    (project / "poetry_flask").mkdir()
    (project / "poetry_flask" / "__init__.py").write_text("")
    built = warp("build", cwd=project, home=home)
    assert "Dependencies unchanged" not in built.stderr and "warning:" not in built.stderr
    assert installed_version(project, home, "poetry-flask") == "0.1.0"
    (project / "poetry_flask.py").write_text("")  # poetry-core refuses a package and a module of one name
    failed = warp("build", "--force", cwd=project, home=home, check=False)
    assert failed.returncode == 1
    assert "Both " in failed.stderr and "error: Installing dependencies with uv (poetry.lock) failed" in failed.stderr
    assert "warning:" not in failed.stderr


def test_a_changed_lock_reinstalls(tmp_path):
    project, home = copy_app("poetry_app", tmp_path)
    warp("build", cwd=project, home=home)
    assert "Dependencies unchanged" in warp("build", cwd=project, home=home).stderr
    lock = project / "poetry.lock"
    lock.write_text(lock.read_text() + "\n# changed\n")
    assert "Reading poetry.lock" in warp("build", cwd=project, home=home).stderr


def test_python_version_file_is_honoured_and_a_change_recreates_the_env(tmp_path):
    project, home = copy_app("flask_wsgi", tmp_path)
    no_override = {"WARP_PYTHON": ""}
    (project / ".python-version").write_text("3.12\n")
    warp("build", cwd=project, home=home, env=no_override)
    version = warp("exec", "python", "-c", "import sys; print(sys.version_info[:2])", cwd=project, home=home, env=no_override)
    assert version.stdout.strip() == "(3, 12)"
    (project / ".python-version").write_text("3.13\n")
    rebuilt = warp("build", cwd=project, home=home, env=no_override)
    assert "Python 3.13 requested (.python-version); env flask_wsgi has 3.12" in rebuilt.stderr
    version = warp("exec", "python", "-c", "import sys; print(sys.version_info[:2])", cwd=project, home=home, env=no_override)
    assert version.stdout.strip() == "(3, 13)"


def test_a_python_version_that_is_not_installed_is_a_clear_error(tmp_path):
    project, home = copy_app("flask_wsgi", tmp_path)
    (project / ".python-version").write_text("3.99\n")
    result = warp("build", cwd=project, home=home, check=False, env={"WARP_PYTHON": ""})
    assert result.returncode == 2
    assert "error: Python 3.99 (from .python-version) is not installed on this machine; installed: " in result.stderr
    assert "pick an installed one with --python X.Y or in .python-version" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "envs" / "flask_wsgi").exists()


def test_offline_rebuild_from_warp_wheels_with_the_index_unreachable(tmp_path):
    project, home = copy_app("uv_app", tmp_path)
    warp("build", cwd=project, home=home)
    result = warp("wheels", cwd=project, home=home)
    assert " packages in " in result.stderr
    assert list((project / ".warp" / "wheelhouse").glob("flask-3.0.3-*.whl"))
    warp("destroy", "uv_app", "--yes", cwd=project, home=home)
    offline = {
        "WARP_PIP_NO_INDEX": "1", "UV_NO_CACHE": "1", "UV_INDEX_URL": CLOSED_INDEX, "UV_DEFAULT_INDEX": CLOSED_INDEX,
        "PIP_INDEX_URL": CLOSED_INDEX, "PIP_EXTRA_INDEX_URL": "", "PIP_FIND_LINKS": "",
    }
    rebuilt = warp("build", cwd=project, home=home, env=offline)
    assert "Build of env uv_app finished" in rebuilt.stderr
    assert installed_version(project, home, "flask", env=offline) == "3.0.3"
    # The same build without the wheelhouse cannot reach an index, which shows it was not used.
    shutil.rmtree(project / ".warp" / "wheelhouse")
    warp("destroy", "uv_app", "--yes", cwd=project, home=home)
    failed = warp("build", cwd=project, home=home, env=offline, check=False)
    assert failed.returncode == 1

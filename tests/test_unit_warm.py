"""The parked process of warm reloads (hooks/warm_parent.py, driven by warp/reload/warm.py) in this interpreter, with Django.

What it parks and what it leaves to the children is decided by importing for real, so these
tests use real modules: the standard library, Django (installed with the tests) and a
project directory of their own.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from warp.hookdir import HOOKS_DIR
from warp.reload.warm import WarmParent

#: What the child script prints: which of these it found imported already (parked), and how it was started.
PROBED = [
    "json", "email.mime.text", "django.conf", "django.db.models",
    "django.contrib.auth.models", "django.contrib.auth.password_validation", "settings", "helpers", "threads_at_import",
]

CHILD = """
import atexit, json, os, sys
found = {name: name in sys.modules for name in %r}
import helpers  # the project's own module, imported afresh
atexit.register(lambda: open("atexit-ran", "w").close())
json.dump({"parked": found, "argv": sys.argv, "cwd": os.getcwd(), "ppid": os.getppid(), "pid": os.getpid(),
           "path0": sys.path[0], "marker": os.environ.get("MARKER"), "helpers": helpers.VALUE, "tz": os.environ.get("TZ")},
          open("child.json", "w"))
sys.exit(7)
"""


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "settings.py").write_text("SECRET_KEY = 'x'\nINSTALLED_APPS = ['django.contrib.auth', 'django.contrib.contenttypes']\n")
    (root / "helpers.py").write_text("VALUE = 'fresh'\n")
    (root / "child.py").write_text(CHILD % PROBED)
    # A module outside site-packages that starts a thread at import: never parked (it is not installed, either).
    (root / "threads_at_import.py").write_text("import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    return root


def start_parked(tmp_path: Path, project: Path, modules: list[str], django: str | None = None):
    lines: list[str] = []
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    warm = WarmParent(Path(sys.executable), HOOKS_DIR, tmp_path / "build.json", tmp_path / "modules.json", lines.append)
    environ = {**os.environ, "PYTHONPATH": str(project), "DJANGO_SETTINGS_MODULE": "settings", "MARKER": "m"}
    plan = SimpleNamespace(adapter=SimpleNamespace(warm_imports=("json",)), cwd=project, warm_django=django)
    warm.start(plan, environ, (), [project])
    deadline = time.monotonic() + 60
    while not any("Parked" in line for line in lines) and time.monotonic() < deadline:
        assert warm.parked is not None, lines
        warm.tick()
        time.sleep(0.02)
    assert any("Parked" in line for line in lines), lines
    return warm, environ, lines


def wait_exit(child, timeout: float = 30) -> int | None:
    deadline = time.monotonic() + timeout
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return child.poll()


def test_a_fork_runs_the_script_as_a_new_interpreter_would_with_only_clean_installed_modules_parked(tmp_path, project):
    warm, environ, lines = start_parked(tmp_path, project, PROBED)
    try:
        child = warm.fork([sys.executable, str(project / "child.py"), "one"], project, environ)
        assert child is not None, lines
        assert wait_exit(child) == 7
        report = json.loads((project / "child.json").read_text())
        assert report["parked"] == {
            "json": True, "email.mime.text": True, "django.conf": True, "django.db.models": True,
            # Its import raises before django.setup(), after reading the project's settings in the throwaway fork.
            "django.contrib.auth.models": False,
            "django.contrib.auth.password_validation": True,  # it reads the settings only when called
            "settings": False, "helpers": False, "threads_at_import": False,  # the project's
        }
        assert report["ppid"] == warm.parked.pid
        assert (report["argv"], report["cwd"], report["marker"], report["helpers"]) == ([str(project / "child.py"), "one"], str(project), "m", "fresh")
        assert report["path0"] == str(project)
        assert (project / "atexit-ran").exists()  # the child ends as an interpreter does, not with a bare os._exit
        # What it left to the children is kept, so that the next session's parked process does not try it again.
        unsafe = json.loads((tmp_path / "modules.json.unsafe").read_text())
        assert unsafe["django.contrib.auth.models"] == "its import raised AppRegistryNotReady"
        assert "json" not in unsafe
    finally:
        warm.close()


def test_a_module_that_one_before_it_in_the_list_imported_is_parked_not_left_out(tmp_path, project):
    """The list is in import order: a package comes before the modules its import brings in."""
    warm, environ, lines = start_parked(tmp_path, project, ["email.mime.text", "email.mime.nonmultipart", "email.mime.base"])
    try:
        child = warm.fork([sys.executable, str(project / "child.py")], project, environ)
        assert child is not None and wait_exit(child) == 7
        assert not (tmp_path / "modules.json.unsafe").exists() or json.loads((tmp_path / "modules.json.unsafe").read_text()) == {}
    finally:
        warm.close()


def test_a_changed_environment_stops_the_parked_process_and_says_so_once(tmp_path, project):
    warm, environ, lines = start_parked(tmp_path, project, ["json"])
    parked = warm.parked
    assert warm.fork([sys.executable, str(project / "child.py")], project, {**environ, "MARKER": "other"}) is None
    assert lines[-1] == " -----> Full restarts until a new parked process is ready: the environment changed"
    assert warm.parked is None and parked.poll() is not None


def test_a_rebuilt_env_stops_the_parked_process(tmp_path, project):
    warm, environ, lines = start_parked(tmp_path, project, ["json"])
    (tmp_path / "build.json").write_text("{}")  # a build writes its record
    assert warm.fork([sys.executable, str(project / "child.py")], project, environ) is None
    assert lines[-1] == " -----> Full restarts until a new parked process is ready: the interpreter or the installed packages changed (a build)"
    assert warm.parked is None


def test_a_command_it_cannot_run_as_a_fork_means_full_restarts_from_then_on(tmp_path, project):
    warm, environ, lines = start_parked(tmp_path, project, ["json"])
    assert warm.fork(["/bin/sh", "-c", "true"], project, environ) is None
    assert lines[-1].startswith(" -----> Full restarts from now on: the parked process failed: it could not fork the server (/bin/sh is not")
    warm.want()
    assert warm.parked is None and not warm.wanted


def test_a_build_while_it_is_still_importing_stops_it_before_any_fork(tmp_path, project):
    lines: list[str] = []
    (tmp_path / "modules.json").write_text(json.dumps(PROBED))
    warm = WarmParent(Path(sys.executable), HOOKS_DIR, tmp_path / "build.json", tmp_path / "modules.json", lines.append)
    plan = SimpleNamespace(adapter=SimpleNamespace(warm_imports=("json",)), cwd=project)
    warm.start(plan, {**os.environ, "PYTHONPATH": str(project)}, (), [project])
    (tmp_path / "build.json").write_text("{}")  # before it has imported what it was told to
    deadline = time.monotonic() + 60
    while warm.parked is not None and time.monotonic() < deadline:
        warm.tick()
        time.sleep(0.02)
    assert lines == [" -----> Full restarts until a new parked process is ready: the interpreter or the installed packages changed (a build)"]


def test_an_edited_installed_module_stops_the_parked_process(tmp_path, project):
    """Someone adds a print to a library in the env: the next server imports it anew, as a full restart would."""
    library = Path(sysconfig.get_paths()["purelib"]) / f"warp_test_library_{os.getpid()}_{time.monotonic_ns()}.py"
    library.write_text("VALUE = 1\n")
    try:
        warm, environ, lines = start_parked(tmp_path, project, [library.stem])
        try:
            child = warm.fork([sys.executable, str(project / "child.py")], project, environ)
            assert child is not None and wait_exit(child) == 7
            library.write_text("VALUE = 2  # edited\n")
            assert warm.fork([sys.executable, str(project / "child.py")], project, environ) is None
            assert lines[-1] == (
                f" -----> Full restarts until a new parked process is ready: an installed module changed: {library} changed since it was parked"
            )
        finally:
            warm.close()
    finally:
        library.unlink()


def test_with_django_set_up_its_models_and_settings_are_parked_and_an_edit_to_a_file_the_setup_read_stops_it(tmp_path, project):
    (project / "settings.py").write_text((project / "settings.py").read_text() + "TIME_ZONE = 'Asia/Tokyo'\nUSE_TZ = True\n")
    warm, environ, lines = start_parked(tmp_path, project, PROBED, django="settings")
    try:
        assert lines[-1].endswith("; Django set up with settings"), lines
        child = warm.fork([sys.executable, str(project / "child.py")], project, environ)
        assert child is not None and wait_exit(child) == 7, lines
        report = json.loads((project / "child.json").read_text())
        assert report["parked"] == {
            "json": True, "email.mime.text": True, "django.conf": True, "django.db.models": True,
            "django.contrib.auth.models": True,  # needs the app registry: parked once Django is set up
            "django.contrib.auth.password_validation": True,
            "settings": True,  # the project's, read by the setup
            "helpers": False, "threads_at_import": False,  # the project's, not read by the setup
        }
        assert report["helpers"] == "fresh"
        # Django's setup set TZ (from TIME_ZONE) here, as it does in a new interpreter: the child has it, and the environment
        # compared with warp's is the one this process started with.
        assert report["tz"] == "Asia/Tokyo"
        assert set(json.loads((tmp_path / "modules.json.unsafe-django").read_text())) == {"helpers", "threads_at_import"}

        (project / "helpers.py").write_text("VALUE = 'edited'\n")  # not read by the setup: still forked
        child = warm.fork([sys.executable, str(project / "child.py")], project, environ)
        assert child is not None and wait_exit(child) == 7
        assert json.loads((project / "child.json").read_text())["helpers"] == "edited"

        (project / "settings.py").write_text((project / "settings.py").read_text() + "# edited\n")
        assert_the_setup_read("settings.py", warm, project, environ, lines)
    finally:
        warm.close()


def assert_the_setup_read(what: str, warm, project: Path, environ, lines) -> None:
    """The next fork is refused, said once: ``what`` changed, which Django's setup in the parked process read."""
    assert warm.fork([sys.executable, str(project / "child.py")], project, environ) is None
    assert lines[-1] == f" -----> Full restarts until a new parked process is ready: {what} changed, which Django's setup in the parked process read"
    assert warm.parked is None


def test_a_file_the_settings_read_stops_it_when_it_changes_and_a_file_they_write_does_not(tmp_path, project):
    """Settings that read a file of the project (an .env) or open a log file in it (which grows with each request)."""
    (project / "greeting.txt").write_text("hello")
    (project / "settings.py").write_text(
        (project / "settings.py").read_text() + "GREETING = open('greeting.txt').read()\nopen('app.log', 'a').close()\n"
    )
    warm, environ, lines = start_parked(tmp_path, project, ["json"], django="settings")
    try:
        (project / "app.log").write_text("a request was served\n")
        child = warm.fork([sys.executable, str(project / "child.py")], project, environ)
        assert child is not None and wait_exit(child) == 7, lines
        (project / "greeting.txt").write_text("hello again")
        assert_the_setup_read("greeting.txt", warm, project, environ, lines)
    finally:
        warm.close()


def test_a_module_added_where_the_setup_looked_stops_it(tmp_path, project):
    """A new file in a directory Django's setup listed (an admin.py that autodiscovery would import) is not missed."""
    warm, environ, lines = start_parked(tmp_path, project, ["json"], django="settings")
    try:
        (project / "admin.py").write_text("")
        assert_the_setup_read("the list of modules in ./", warm, project, environ, lines)
    finally:
        warm.close()


def test_django_that_cannot_be_set_up_is_left_to_each_server(tmp_path, project):
    (project / "settings.py").write_text("INSTALLED_APPS = ['no_such_app']\n")
    warm, environ, lines = start_parked(tmp_path, project, ["json"], django="settings")
    try:
        assert lines[-1].endswith("; Django left to each server: django.setup() raised ModuleNotFoundError"), lines
        child = warm.fork([sys.executable, str(project / "child.py")], project, environ)
        assert child is not None and wait_exit(child) == 7
        assert json.loads((project / "child.json").read_text())["parked"]["settings"] is False
    finally:
        warm.close()


def test_a_project_file_replaced_with_the_same_size_and_mtime_is_a_change(tmp_path):
    """What Django's setup read in the parked process is compared by content: a release unpacked with `tar --mtime`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("warm_parent_under_test", HOOKS_DIR / "warm_parent.py")
    warm_parent = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(HOOKS_DIR))
    try:
        spec.loader.exec_module(warm_parent)
    finally:
        sys.path.remove(str(HOOKS_DIR))
    settings = tmp_path / "settings.py"
    settings.write_text("STATIC_URL = 'static/'\n")
    files = warm_parent.ProjectFiles((str(tmp_path) + os.sep,))
    files.recording = True
    files.hear("open", (str(settings), "r", os.O_RDONLY))
    assert files.find_changed() is None
    before = settings.stat()
    settings.write_text("STATIC_URL = 'assets/'\n"[: len("STATIC_URL = 'static/'\n")])
    os.utime(settings, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert settings.stat().st_size == before.st_size
    assert files.find_changed() == str(settings)

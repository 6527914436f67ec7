"""Projects as their own docs make them: where the root is, whose env it is, which Python, which lock, what the plan and the logs say."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import BuiltApp, build_app, warp


def test_gunicorn_names_the_address_when_each_worker_has_its_own_socket(run_warp):
    """With --reuse-port (gunicorn 24+, more than one process) the arbiter holds no socket and gunicorn logs
    "Listening at:  (PID)"; warp's logger says where the workers listen."""
    app = build_app("flask_wsgi", "gunicorn")
    running = run_warp(app, "--server", "gunicorn", "--processes", "2")
    running.wait_ready("/")
    assert running.get("/")[0] == 200
    running.stop()
    log = running.output()
    assert re.search(rf"Listening at: http://127\.0\.0\.1:{running.port}\b.* \(\d+\)", log), log
    assert "Listening at:  (" not in log, log
    assert re.search(r'"GET / HTTP/1\.1" 200', log), log  # the access log is gunicorn's own, as before


SETTINGS_BASE = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SECRET_KEY = "x"
INSTALLED_APPS = ["django.contrib.staticfiles"]
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "assets"]
"""


def test_the_plan_of_a_django_project_names_the_settings_module_that_runs(tmp_path):
    """manage.py defaults to config.settings.local (cookiecutter-django's layout); .warp/environment says production."""
    src = tmp_path / "site"
    files = {
        "requirements.txt": "Django\n",
        "manage.py": (
            "import os, sys\n\nif __name__ == '__main__':\n"
            "    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.local')\n"
            "    from django.core.management import execute_from_command_line\n    execute_from_command_line(sys.argv)\n"
        ),
        "config/__init__.py": "",
        "config/urls.py": "urlpatterns = []\n",
        "config/wsgi.py": "from django.core.wsgi import get_wsgi_application\n\napplication = get_wsgi_application()\n",
        "config/settings/__init__.py": "",
        "config/settings/base.py": SETTINGS_BASE,
        "config/settings/local.py": "from .base import *\n\nDEBUG = True\nSTATIC_ROOT = BASE_DIR / 'static-local'\n",
        "config/settings/production.py": "from .base import *\n\nDEBUG = False\nSTATIC_ROOT = BASE_DIR / 'static-production'\n",
        ".warp/environment": "DJANGO_SETTINGS_MODULE=config.settings.production\n",
        "assets/site.css": "body { color: red; }\n",
    }
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    home = tmp_path / "home"
    warp("build", cwd=src, home=home)
    assert (src / "static-production").is_dir() and not (src / "static-local").exists()
    plan = warp("plan", cwd=src, home=home).stdout
    expected = "manage.py is present; DJANGO_SETTINGS_MODULE=config.settings.production from .warp/environment, not manage.py's default config.settings.local"
    assert re.search(r"^mode +django +because " + re.escape(expected) + "$", plan, re.MULTILINE), plan
    assert "config.settings.local" not in plan.replace("not manage.py's default config.settings.local", ""), plan
    assert re.search(r"^static files +/static/ -> .*/static-production ", plan, re.MULTILINE), plan


def _exports(activate_output: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(.*);$", activate_output, re.MULTILINE))


SHOW_SOURCE = (
    "import os\n\n\ndef application(environ, start_response):\n"
    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
    "    return [('project {name} from ' + os.environ['WARP_SRC_ROOT']).encode()]\n"
)


def test_two_directories_with_the_same_name_each_get_their_own_env(tmp_path, run_warp):
    """`warp build` in a/site, then `warp activate` in b/site: b gets an env of its own (site-2), and every command
    run there sees b's source, never a's."""
    home = tmp_path / "home"
    sites = {}
    for name in ("a", "b"):
        src = sites[name] = tmp_path / name / "site"
        src.mkdir(parents=True)
        (src / "requirements.txt").write_text("# nothing beyond the server\n")
        (src / "wsgi.py").write_text(SHOW_SOURCE.format(name=name))
    warp("build", cwd=sites["a"], home=home)
    activated = {name: _exports(warp("activate", "--shell", "bash", cwd=src, home=home).stdout) for name, src in sites.items()}
    assert activated["a"]["WARP_ENV_NAME"] == "site" and activated["a"]["WARP_SRC_ROOT"] == str(sites["a"])
    assert activated["b"]["WARP_ENV_NAME"] == "site-2" and activated["b"]["WARP_SRC_ROOT"] == str(sites["b"]), activated
    assert activated["b"]["VIRTUAL_ENV"] == str(home / "envs" / "site-2")
    for name, src in sites.items():
        active = {"WARP_ENV_NAME": activated[name]["WARP_ENV_NAME"]}
        warp("build", cwd=src, home=home, env=active)
        shown = warp("exec", "python", "-c", "import os; print(os.environ['WARP_SRC_ROOT'], os.environ['VIRTUAL_ENV'])", cwd=src, home=home, env=active)
        assert shown.stdout.split() == [str(src), activated[name]["VIRTUAL_ENV"]]
        # without the activation too: the env made for this directory, by its source
        assert warp("exec", "python", "-c", "import os; print(os.environ['WARP_SRC_ROOT'])", cwd=src, home=home).stdout.strip() == str(src)
        running = run_warp(BuiltApp(f"site-{name}", src, home), env=active)
        running.wait_ready("/")
        assert running.get("/") == (200, f"project {name} from {src}")
    listed = warp("list", cwd=tmp_path, home=home).stdout
    assert re.search(rf"^site +\S+ +\S+ +{re.escape(str(sites['a']))}$", listed, re.MULTILINE), listed
    assert re.search(rf"^site-2 +\S+ +\S+ +{re.escape(str(sites['b']))}$", listed, re.MULTILINE), listed


FLASKR_PYPROJECT = """\
[project]
name = "flaskr"
version = "1.0.0"
description = "The basic blog app built in the Flask tutorial."
dependencies = ["flask"]

[build-system]
requires = ["flit_core<4"]
build-backend = "flit_core.buildapi"
"""
FLASKR_INIT = """\
from flask import Flask


def create_app():
    app = Flask(__name__)

    @app.route("/")
    def index():
        return "flaskr"

    return app
"""


def test_a_command_run_in_a_subdirectory_finds_the_project_root(tmp_path):
    """Flask's tutorial: `cd flaskr && warp exec flask …` uses the project's env (pyproject.toml is one level up),
    as git, uv and poetry find their root; it makes no new, empty env for the subdirectory."""
    home = tmp_path / "home"
    root = tmp_path / "flask-tutorial"
    (root / "flaskr" / "templates").mkdir(parents=True)
    (root / "pyproject.toml").write_text(FLASKR_PYPROJECT)
    (root / "flaskr" / "__init__.py").write_text(FLASKR_INIT)
    inner = root / "flaskr" / "templates"
    built = warp("build", cwd=inner, home=home)  # the first command, from two levels down
    assert f"Created env flask-tutorial for {root} (found from {inner}: it holds pyproject.toml)" in built.stderr, built.stderr
    code = "import flaskr; print(sorted(rule.endpoint for rule in flaskr.create_app().url_map.iter_rules()))"
    routes = warp("exec", "python", "-c", code, cwd=root / "flaskr", home=home)
    assert routes.stdout.strip() == "['index', 'static']" and f"Using env flask-tutorial for {root} (found from {root / 'flaskr'}: its env was made there)" in routes.stderr
    where = warp("exec", "python", "-c", "import os; print(os.getcwd(), os.environ['WARP_SRC_ROOT'])", cwd=root / "flaskr", home=home)
    assert where.stdout.split() == [str(root / "flaskr"), str(root)]  # the command runs where it was given
    activated = _exports(warp("activate", "--shell", "bash", cwd=root / "flaskr", home=home).stdout)
    assert (activated["WARP_ENV_NAME"], activated["WARP_SRC_ROOT"]) == ("flask-tutorial", str(root))
    assert [path.name for path in (home / "envs").iterdir()] == ["flask-tutorial"]


def _newer_python() -> str | None:
    """The oldest Python 3.12+ on this machine (warp's own search), or None."""
    from warp.env.pythons import scan_interpreters

    found = sorted((tuple(map(int, item.version.split("."))), item.version) for item in scan_interpreters(os.environ))
    return next((version for key, version in found if key >= (3, 12)), None)


needs_newer_python = pytest.mark.skipif(_newer_python() is None, reason="no Python 3.12+ on this machine (pyenv install 3.12)")
#: What `wagtail start` writes: Django 6.1 needs Python 3.12 or newer (its Requires-Python on the index).
NEEDS_312 = "Django>=6.1\n"
APP = "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"


@needs_newer_python
def test_a_requirement_that_needs_a_newer_python_names_the_python_that_satisfies_it(tmp_path):
    src = tmp_path / "cms"
    src.mkdir()
    (src / "requirements.txt").write_text(NEEDS_312)
    (src / "wsgi.py").write_text(APP)
    failed = warp("build", cwd=src, home=tmp_path / "home", check=False, env={"WARP_PYTHON": "/usr/bin/python3.11"})
    version = _newer_python()
    minor = ".".join(version.split(".")[:2])
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert failed.stderr.splitlines()[-2].startswith("error: Installing dependencies with uv (requirements.txt) failed"), failed.stderr
    assert failed.stderr.splitlines()[-1] == (
        f"       django>=6.1 needs Python>=3.12, and WARP_PYTHON asks for /usr/bin/python3.11: ask for {minor} there "
        f"(Python {version} is on this machine)"
    ), failed.stderr
    failed = warp("build", cwd=src, home=tmp_path / "home", check=False, env={"WARP_PYTHON": ""})
    assert failed.stderr.splitlines()[-1] == (
        f"       django>=6.1 needs Python>=3.12: Python {version} is on this machine; build with it (`WARP_PYTHON={minor} warp build`), "
        'or declare requires-python = ">=3.12" in pyproject.toml and warp takes it'
    ), failed.stderr
    # As the hint says: the build takes that Python, and the plan says why the env has it once the variable is gone.
    warp("build", cwd=src, home=tmp_path / "home", env={"WARP_PYTHON": minor})
    plan = warp("plan", cwd=src, home=tmp_path / "home", env={"WARP_PYTHON": ""}).stdout
    assert re.search(rf"^python +{re.escape(version)} +because the env's Python, made with WARP_PYTHON \({minor}\)$", plan, re.MULTILINE), plan


@needs_newer_python
def test_a_newer_python_that_requires_python_allows_is_taken_and_said(tmp_path):
    src = tmp_path / "cms"
    src.mkdir()
    (src / "requirements.txt").write_text(NEEDS_312)
    (src / "pyproject.toml").write_text('[project]\nname = "cms"\nversion = "1"\nrequires-python = ">=3.10"\n')
    (src / "wsgi.py").write_text(APP)
    home = tmp_path / "home"
    built = warp("build", cwd=src, home=home, env={"WARP_PYTHON": ""})
    version = _newer_python()
    assert (f" -----> django>=6.1 needs Python>=3.12; requires-python in pyproject.toml (>=3.10) allows Python {version}, on this machine: "
            f"making env cms again with Python {version}") in built.stderr.splitlines(), built.stderr
    shown = warp("exec", "python", "-c", "import django, platform; print(django.__version__, platform.python_version())", cwd=src, home=home,
                 env={"WARP_PYTHON": ""})
    django, python = shown.stdout.split()
    assert python == version and tuple(map(int, django.split(".")[:2])) >= (6, 1), shown.stdout
    plan = warp("plan", cwd=src, home=home, env={"WARP_PYTHON": ""}).stdout
    assert re.search(rf"^python +{re.escape(version)} +because the env's Python, made with the oldest Python on this machine that "
                     r"django>=6\.1 allows \(Python>=3\.12, within requires-python in pyproject\.toml >=3\.10\)$", plan, re.MULTILINE), plan
    assert "Dependencies unchanged" in warp("build", cwd=src, home=home, env={"WARP_PYTHON": ""}).stderr  # kept, not made again


WORKSPACE_FILES = {
    # A virtual root: no project of its own, one uv.lock for every member.
    "pyproject.toml": '[tool.uv.workspace]\nmembers = ["apps/*", "libs/*"]\n',
    "apps/web/pyproject.toml": (
        '[project]\nname = "web"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["flask", "core"]\n\n'
        '[tool.uv.sources]\ncore = { workspace = true }\n'
    ),
    "apps/web/wsgi.py": (
        "from importlib.metadata import version\n\nfrom core import GREETING\nfrom flask import Flask\n\napplication = Flask(__name__)\n\n\n"
        "@application.route('/')\ndef index():\n    return f\"{GREETING}, flask {version('flask')}\"\n"
    ),
    # Another member, with a dependency the web app does not have.
    "apps/api/pyproject.toml": '[project]\nname = "api"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["six"]\n',
    "libs/core/pyproject.toml": (
        '[project]\nname = "core"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["itsdangerous"]\n\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    ),
    "libs/core/src/core/__init__.py": 'GREETING = "hello from core"\n',
}


def test_a_uv_workspace_member_installs_its_locked_set_from_its_directory_and_from_the_root(tmp_path, run_warp):
    """apps/web depends on libs/core ({ workspace = true }); the root's uv.lock pins flask 3.0.0 where a fresh
    resolution of apps/web's pyproject.toml takes the newest: warp installs exactly the member's locked set."""
    from warp.env.venv import find_uv

    root = tmp_path / "monorepo"
    for name, text in WORKSPACE_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / ".git").mkdir()  # a repository, as a monorepo is
    subprocess.run([find_uv(), "lock", "--quiet", "--upgrade-package", "flask==3.0.0"], cwd=root, check=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
    home = tmp_path / "home"
    ask = "import importlib.metadata as m; print(m.version('flask'), *sorted(d.metadata['Name'] for d in m.distributions() if d.metadata['Name'] in ('six', 'core', 'web')))"

    web = root / "apps" / "web"
    built = warp("build", cwd=web, home=home)
    assert " -----> Reading the workspace's uv.lock (package web and what it needs, exact versions)" in built.stderr.splitlines(), built.stderr
    plan = warp("plan", cwd=web, home=home).stdout
    assert re.search(rf"^dependencies +\.\./\.\./uv\.lock, \.\./\.\./pyproject\.toml, pyproject\.toml +because the uv workspace at "
                     rf"{re.escape(str(root))} locks its member apps/web \(package web\) in its uv\.lock$", plan, re.MULTILINE), plan
    installed = warp("exec", "python", "-c", ask, cwd=web, home=home).stdout.split()
    assert installed == ["3.0.0", "core"], installed  # core from the workspace; not api's six
    running = run_warp(BuiltApp("workspace-member", web, home))
    running.wait_ready("/")
    assert running.get("/") == (200, "hello from core, flask 3.0.0")
    running.stop()

    built = warp("build", "--home", "apps/web", cwd=root, home=home)
    assert "Created env monorepo for" in built.stderr and "Reading the workspace's uv.lock (package web" in built.stderr, built.stderr
    plan = warp("plan", "--home", "apps/web", cwd=root, home=home).stdout
    assert re.search(r"^dependencies +uv\.lock, pyproject\.toml, apps/web/pyproject\.toml +because the uv workspace at "
                     rf"{re.escape(str(root))} locks its member apps/web \(package web\) in its uv\.lock$", plan, re.MULTILINE), plan
    installed = warp("exec", "python", "-c", ask, cwd=root, home=home).stdout.split()
    assert installed == ["3.0.0", "core"], installed
    running = run_warp(BuiltApp("workspace-root", root, home), "--home", "apps/web")
    running.wait_ready("/")
    assert running.get("/") == (200, "hello from core, flask 3.0.0")


def test_the_plan_of_a_quart_app_named_with_app_says_asgi_mode(run_warp):
    """Quart's deployment example names its app (`--app asgi:app`): the mode agrees with the interface the app's
    interpreter found, where it said "mode wsgi because from --app" beside "interface asgi"."""
    app = build_app("quart_app", "uvicorn")
    plan = warp("plan", "--app", "asgi:app", cwd=app.src, home=app.home).stdout
    assert re.search(r"^mode +asgi +because from --app$", plan, re.MULTILINE), plan
    assert re.search(r"^interface +asgi +because ", plan, re.MULTILINE), plan
    running = run_warp(app, "--app", "asgi:app")
    running.wait_ready("/")
    assert running.get("/") == (200, "hello from quart")

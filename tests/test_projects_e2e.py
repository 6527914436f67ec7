"""Projects as their own docs make them: where the root is, whose env it is, which Python, which lock, what the plan and the logs say."""

from __future__ import annotations

import re

from conftest import build_app, warp


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

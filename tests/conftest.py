"""Shared fixtures: a real WARP_HOME, sample apps built once per test run, real servers.

Envs are built once per run and shared by all pytest-xdist workers (a file
lock per app), in a world-readable directory so that Apache's unprivileged
user can read them when the tests run as root.
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from warp.proc import find_descendants, is_running

TESTS = Path(__file__).resolve().parent
APPS = TESTS / "apps"
SERVERS = ("gunicorn", "waitress", "uwsgi", "mod_wsgi")
ASGI_SERVERS = ("uvicorn", "gunicorn", "hypercorn", "granian")

# Apache refuses to run as root and its user cannot read a Python under /root,
# so as root the envs use the system interpreter.
if os.environ.get("WARP_TEST_PYTHON"):
    TEST_PYTHON = os.environ["WARP_TEST_PYTHON"]
elif os.geteuid() == 0 and Path("/usr/bin/python3").exists():
    TEST_PYTHON = "/usr/bin/python3"
else:
    TEST_PYTHON = sys.executable

_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID") or os.environ.setdefault("WARP_TEST_RUN", uuid.uuid4().hex[:10])
SHARED = Path(f"/tmp/warp-tests-{_RUN}")


def _python_has_headers(python: str) -> bool:
    code = "import sysconfig, os; print(os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return out.stdout.strip() == "True"


def why_server_unavailable(server: str) -> str | None:
    """None when the server can be built and run here, else the reason to skip."""
    if server in ("uwsgi", "mod_wsgi"):
        if not shutil.which("gcc") and not shutil.which("cc"):
            return f"{server} compiles from source and no C compiler is installed"
        if not _python_has_headers(TEST_PYTHON):
            return f"{server} needs the Python headers of {TEST_PYTHON} (Debian: python3-dev)"
    if server == "mod_wsgi":
        if not (shutil.which("apxs") or shutil.which("apxs2")):
            return "mod_wsgi needs apxs (Debian: apache2-dev); run .ci/install-system-deps"
        if not any(Path(p).exists() for p in ("/usr/sbin/apache2", "/usr/sbin/httpd")):
            return "mod_wsgi needs the Apache binary (Debian: apache2-bin)"
    return None


def server_param(server: str):
    marks = [pytest.mark.slow] if server in ("uwsgi", "mod_wsgi") else []
    reason = why_server_unavailable(server)
    if reason:
        marks.append(pytest.mark.skip(reason=reason))
    return pytest.param(server, marks=marks, id=server)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 30) -> tuple[int, str]:
    """Status and body of a GET; an error status is an answer, a failed request raises."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def find_cause(exc: BaseException) -> BaseException:
    """The error itself, out of the URLError urllib wraps around what fails while connecting and sending."""
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return exc.reason
    return exc


@contextmanager
def canned_server(answer: bytes):
    """A loopback server that reads each request, sends ``answer`` as it is and closes: a server that misbehaves."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.05)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.settimeout(5)
                    conn.recv(65536)
                    conn.sendall(answer)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join(timeout=5)


#: Wheels of the servers that compile from source, built once per test run (see server_wheels).
WHEELS = SHARED / "wheels"


def warp_environ(home: Path, **extra: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("WARP_") and key not in ("VIRTUAL_ENV", "PORT", "WEB_CONCURRENCY")}
    # One bytecode cache for the session, as the package caches are shared: not the user's own.
    environ.update({"WARP_HOME": str(home), "WARP_PYTHON": TEST_PYTHON, "PYTHONUNBUFFERED": "1", "WARP_CACHE_DIR": str(SHARED / "warp-cache")})
    if WHEELS.is_dir():
        environ.update({"UV_FIND_LINKS": str(WHEELS), "PIP_FIND_LINKS": str(WHEELS)})
    environ.update(extra)
    return environ


def warp(*args: str, cwd: Path, home: Path, check: bool = True, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the real `warp` command line in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "warp", *args],
        cwd=cwd,
        env={**warp_environ(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"warp {' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


@contextmanager
def file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class BuiltApp:
    name: str
    src: Path
    home: Path
    servers: set[str] = field(default_factory=set)


def _prepare_shared() -> None:
    """SHARED and its WARP_HOME, world-readable: warp would create WARP_HOME 0700, and Apache's user must read the envs."""
    for path in (SHARED, SHARED / "home"):
        if not path.exists():
            path.mkdir(mode=0o755, exist_ok=True)
            os.chmod(path, 0o755)


def build_app(name: str, server: str, copy_as: str | None = None) -> BuiltApp:
    """The sample app ``name`` with ``server`` installed: built once per test run.

    Each (app, server) has its own copy and env, so that no build ever runs on an
    env another test is serving from. ``copy_as`` names a private copy for tests
    that edit the source.
    """
    _prepare_shared()
    home = SHARED / "home"
    source_name, name = name, copy_as or f"{name}-{server}"
    src = SHARED / "src" / name
    with file_lock(SHARED / "locks" / f"{name}.lock"):
        if not src.exists():
            src.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(src.parent, 0o755)
            if source_name in DJANGO_SITES:
                _make_django_site(src, home, *DJANGO_SITES[source_name])
            else:
                shutil.copytree(APPS / source_name, src)
        marker = SHARED / "built" / name
        if not marker.exists():
            server_wheels()
            warp("build", "--server", server, cwd=src, home=home)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    return BuiltApp(name, src, home, {server})


def django_site_with_assets(copy_as: str) -> tuple[BuiltApp, Path]:
    """A private copy of the startproject site with a static source of its own: assets/site.css (red)."""
    app = build_app("django_site", "gunicorn", copy_as=copy_as)
    settings = app.src / "mysite" / "settings.py"
    if "STATICFILES_DIRS" not in settings.read_text():
        settings.write_text(settings.read_text() + '\nSTATICFILES_DIRS = [BASE_DIR / "assets"]\n')
        (app.src / "assets").mkdir()
    css = app.src / "assets" / "site.css"
    css.write_text("body { color: red; }\n")
    return app, css


def server_wheels() -> None:
    """Build uWSGI and mod_wsgi into wheels once, so that each env installs them instead of compiling again.

    uv keeps the wheels it builds, but it revalidates the sdist against the index and
    rebuilds whenever the index answers "modified"; a local wheel is always preferred.
    """
    with file_lock(SHARED / "locks" / "wheels.lock"):
        if (SHARED / "built" / "wheels").exists():
            return
        wanted = [name for name in ("uwsgi", "mod-wsgi") if why_server_unavailable(name.replace("-", "_")) is None]
        venv = SHARED / "wheel-builder"
        if wanted:
            subprocess.run([sys.executable, "-m", "uv", "venv", "--seed", "--quiet", "--python", TEST_PYTHON, str(venv)], check=True)
            subprocess.run([str(venv / "bin/python"), "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(WHEELS), *wanted], check=True)
        WHEELS.mkdir(exist_ok=True)
        (SHARED / "built").mkdir(exist_ok=True)
        (SHARED / "built" / "wheels").touch()


#: The production settings of a site whose static files have hashed names and .gz/.br copies.
MANIFEST_SETTINGS = """
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
STATIC_ROOT = BASE_DIR / "collected"
STATICFILES_DIRS = [BASE_DIR / "assets"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
"""
#: The site's own stylesheet: long and repetitive enough that its .gz and .br copies are kept.
SITE_CSS = "".join(f".rule-{n} {{ color: red; margin: {n}px; }}\n" for n in range(200))

#: A startproject site with two apps, each kind of file it has served at / (polls) and /blog/ (blog), numbered 0.
TWO_APPS_SETTINGS = """
INSTALLED_APPS += ["polls", "blog"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
GREETING = "greeting 0"
TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]
"""
TWO_APPS_FILES = {
    "mysite/urls.py": (
        "from django.contrib import admin\nfrom django.urls import include, path\n\n"
        'urlpatterns = [path("admin/", admin.site.urls), path("", include("polls.urls")), path("blog/", include("blog.urls"))]\n'
    ),
    "polls/__init__.py": "",
    "polls/apps.py": 'from django.apps import AppConfig\n\n\nclass PollsConfig(AppConfig):\n    name = "polls"\n    verbose_name = "app 0"\n',
    # LOADED_IN: the process that imported the models (a server, or the parked process of a warm --reload that set Django up).
    "polls/models.py": (
        "import os\n\nfrom django.db import models\n\nLOADED_IN = os.getpid()\n\n\nclass Question(models.Model):\n"
        '    text = models.CharField(max_length=200)\n\n    class Meta:\n        verbose_name = "question 0"\n'
    ),
    "polls/admin.py": "from django.contrib import admin\n\nfrom polls.models import Question\n\nadmin.site.register(Question)\n",
    "polls/views.py": (
        "import os\n\nfrom django.apps import apps\nfrom django.conf import settings\nfrom django.shortcuts import render\n\n"
        "from polls.models import LOADED_IN, Question\n\n\n"
        "def index(request):\n"
        '    context = {"view": "polls view 0", "name": Question._meta.verbose_name, "greeting": settings.GREETING, "pid": os.getpid(),\n'
        '               "app": apps.get_app_config("polls").verbose_name, "models_from": LOADED_IN}\n'
        '    return render(request, "polls/index.html", context)\n'
    ),
    "polls/urls.py": 'from django.urls import path\n\nfrom polls import views\n\nurlpatterns = [path("", views.index)]\n',
    "polls/templates/polls/index.html": "polls template 0 {{ view }} {{ name }} {{ greeting }} {{ app }} pid {{ pid }} models from {{ models_from }}\n",
    "blog/__init__.py": "",
    "blog/apps.py": 'from django.apps import AppConfig\n\n\nclass BlogConfig(AppConfig):\n    name = "blog"\n',
    "blog/helpers.py": 'TEXT = "helper 0"\n',
    "blog/views.py": (
        "from django.http import HttpResponse\nfrom django.template.loader import render_to_string\n\nfrom blog.helpers import TEXT\n\n\n"
        'def index(request):\n    return HttpResponse(render_to_string("blog.html", {"text": TEXT}) + " blog view 0")\n'
    ),
    "blog/urls.py": 'from django.urls import path\n\nfrom blog import views\n\nurlpatterns = [path("", views.index)]\n',
    "templates/blog.html": "blog template 0 {{ text }}\n",
}

#: A site with a Celery worker and beat through Redis (REDIS_URL), writing what its tasks did into JOBS_DIR.
CELERY_SETTINGS = """
import os
INSTALLED_APPS += ["jobs"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "jobs.urls"
CELERY_BROKER_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {"tick": {"task": "jobs.tasks.tick", "schedule": 1.0}}
"""
CELERY_FILES = {
    "mysite/__init__.py": "from mysite.celery import app as celery_app\n\n__all__ = (\"celery_app\",)\n",
    "mysite/celery.py": (
        "import os\n\nfrom celery import Celery\n\n"
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'
        'app = Celery("mysite")\napp.config_from_object("django.conf:settings", namespace="CELERY")\napp.autodiscover_tasks()\n'
    ),
    "jobs/__init__.py": "",
    "jobs/apps.py": 'from django.apps import AppConfig\n\n\nclass JobsConfig(AppConfig):\n    name = "jobs"\n',
    # started-*, done-*: a task's start and end; ticks: beat's periodic task; GREETING comes from .warp/environment.
    "jobs/tasks.py": (
        "import os\nimport time\nfrom pathlib import Path\n\nfrom celery import shared_task\n\n\n"
        "@shared_task\ndef add(x, y, delay=0.0):\n"
        '    Path(os.environ["JOBS_DIR"], f"started-{x}-{y}").write_text(str(os.getpid()))\n'
        "    time.sleep(delay)\n"
        '    Path(os.environ["JOBS_DIR"], f"done-{x}-{y}").write_text(str(x + y))\n'
        '    return f"{x + y} {os.environ.get(\'GREETING\')}"\n\n\n'
        "@shared_task\ndef tick():\n"
        '    with open(Path(os.environ["JOBS_DIR"], "ticks"), "a") as handle:\n        handle.write(f"{time.time()}\\n")\n'
    ),
    "jobs/views.py": (
        "from celery.result import AsyncResult\nfrom django.http import HttpResponse\n\nfrom jobs.tasks import add\n\n\n"
        "def enqueue(request):\n"
        '    result = add.delay(int(request.GET["x"]), int(request.GET["y"]), float(request.GET.get("delay", 0)))\n'
        "    return HttpResponse(result.id)\n\n\n"
        "def result(request, task_id):\n"
        "    found = AsyncResult(task_id)\n"
        '    return HttpResponse(f"{found.state} {found.result if found.ready() else \'\'}")\n'
    ),
    "jobs/urls.py": (
        "from django.urls import path\n\nfrom jobs import views\n\n"
        'urlpatterns = [path("enqueue", views.enqueue), path("result/<task_id>", views.result)]\n'
    ),
    # A migration that takes a moment and leaves a line for each run: two releases at once would both run it.
    "jobs/migrations/__init__.py": "",
    "jobs/migrations/0001_slow.py": (
        "import os\nimport time\n\nfrom django.db import migrations\n\n\n"
        "def slow(apps, schema_editor):\n"
        '    with open(os.path.join(os.environ["JOBS_DIR"], "migrated"), "a") as handle:\n'
        '        handle.write(f"{os.getpid()} start\\n")\n        handle.flush()\n        time.sleep(2)\n'
        '        handle.write(f"{os.getpid()} end\\n")\n\n\n'
        "class Migration(migrations.Migration):\n    operations = [migrations.RunPython(slow, migrations.RunPython.noop)]\n"
    ),
    ".warp/environment": "GREETING=from-warp-environment\n",
    "Procfile": (
        "# The web process is warp's own plan (not declared).\n"
        "worker: celery -A mysite worker --concurrency 1 --loglevel INFO\n"
        'beat: celery -A mysite beat --loglevel INFO --schedule "$JOBS_DIR/beat-schedule"\n'
        "release: python manage.py migrate --noinput\n"
    ),
}

#: Django sample sites made by `django-admin startproject`: name -> (requirements, settings appended, files added).
DJANGO_SITES = {
    "django_site": ("Django\n", "", {}),
    # Hashed names from CompressedManifestStaticFilesStorage, served by whatever warp puts in front.
    "django_manifest": ("Django\nwhitenoise[brotli]\n", MANIFEST_SETTINGS, {"assets/site.css": SITE_CSS}),
    # The common production layout: the same, served by the app's own WhiteNoise middleware.
    "django_whitenoise": (
        "Django\nwhitenoise[brotli]\n",
        MANIFEST_SETTINGS + 'MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")\nWHITENOISE_MAX_AGE = 4321\n',
        {"assets/site.css": SITE_CSS},
    ),
    "django_two_apps": ("Django\n", TWO_APPS_SETTINGS, TWO_APPS_FILES),
    # The same served through its asgi.py: uvicorn among the dependencies asks for ASGI.
    "django_two_apps_asgi": ("Django\nuvicorn\n", TWO_APPS_SETTINGS, TWO_APPS_FILES),
    # Django's asgi.py: uvicorn among the dependencies asks for ASGI.
    "django_asgi": ("Django\nuvicorn\n", 'ALLOWED_HOSTS = ["127.0.0.1", "localhost"]\n', {}),
    # A Celery worker and beat beside the web process, through Redis; a Procfile declares them.
    "django_celery": ("Django\ncelery[redis]\n", CELERY_SETTINGS, CELERY_FILES),
}


def _make_django_site(src: Path, home: Path, requirements: str, settings: str, files: dict[str, str]) -> None:
    """A `django-admin startproject` site, made with warp's own env, then given ``settings`` and ``files``."""
    src.mkdir()
    (src / "requirements.txt").write_text(requirements)
    warp("build", cwd=src, home=home)
    warp("exec", "django-admin", "startproject", "mysite", ".", cwd=src, home=home)
    if settings:
        with open(src / "mysite" / "settings.py", "a") as handle:
            handle.write(settings)
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)


class RunningWarp:
    """`warp start` as a real child process, with its log kept for failures."""

    def __init__(self, app: BuiltApp, args: list[str], port: int, env: dict | None = None) -> None:
        self.port = port
        self.log_path = SHARED / "logs" / f"{app.name}-{port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warp", "start", "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=app.src,
            env={**warp_environ(app.home), **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.tree: set[int] = set()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, path: str = "/", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"warp start exited {self.proc.returncode} before serving\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url(path), timeout=5):
                    break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError(f"no answer on port {self.port} within {timeout}s\n{self.output()}")
        self.tree = find_descendants(self.proc.pid) | {self.proc.pid}

    def get(self, path: str, timeout: float = 30) -> tuple[int, str]:
        return http_get(self.url(path), timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def leftovers(self) -> set[int]:
        return {pid for pid in self.tree if is_running(pid)}

    def is_listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def websocket(self, path: str = "/ws", timeout: float = 10) -> "WebSocket":
        return WebSocket(self.port, path, timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


class WebSocket:
    """A minimal WebSocket client (RFC 6455 text frames), standard library only."""

    def __init__(self, port: int, path: str, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError(f"closed during the handshake: {head!r}")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"no upgrade: {head!r}")

    def send(self, text: str) -> None:
        payload, mask = text.encode(), os.urandom(4)
        assert len(payload) < 126
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def receive(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame: 1 text, 8 close."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(self._read(2), "big")
        elif length == 127:
            length = int.from_bytes(self._read(8), "big")
        return first & 0x0F, self._read(length)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def run_warp():
    started: list[RunningWarp] = []

    def start(app: BuiltApp, *args: str, env: dict | None = None, port: int | None = None) -> RunningWarp:
        running = RunningWarp(app, list(args), port or free_port(), env)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A fresh WARP_HOME and an empty project directory for CLI tests."""
    home = tmp_path / "warp-home"
    project = tmp_path / "project"
    project.mkdir()
    for key in list(os.environ):
        if key.startswith("WARP_") or key in ("VIRTUAL_ENV", "PORT", "WEB_CONCURRENCY"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("WARP_HOME", str(home))
    monkeypatch.chdir(project)
    return project

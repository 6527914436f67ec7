"""hooks/django_collectstatic.py run by a real interpreter against a tiny Django settings module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warp.hookdir import HOOKS_DIR
from warp.proc import is_running

#: What the project's static directory holds: text, a nested file, bytes that are not UTF-8.
STATIC_FILES = {
    "site.css": b"body { color: red; }\n",
    "js/app.js": b"console.log('hello');\n",
    "img/dot.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
}


def make_site(root: Path, static_root: Path | None) -> None:
    for name, content in STATIC_FILES.items():
        path = root / "assets" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "site_settings.py").write_text(
        "SECRET_KEY = 'not secret'\n"
        "INSTALLED_APPS = ['django.contrib.staticfiles']\n"
        "STATIC_URL = '/static/'\n"
        f"STATICFILES_DIRS = [{str(root / 'assets')!r}]\n"
        f"STATIC_ROOT = {str(static_root) if static_root else None!r}\n"
    )


def collect(site: Path, fallback: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HOOKS_DIR / "django_collectstatic.py")],
        cwd=site,
        env={**os.environ, "PYTHONPATH": str(site), "DJANGO_SETTINGS_MODULE": "site_settings", "WARP_STATIC_FALLBACK": str(fallback)},
        capture_output=True, text=True, timeout=60,
    )


def read_tree(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


@pytest.mark.parametrize("own_root", [True, False], ids=["static-root", "fallback"])
def test_collectstatic_copies_every_static_file_unchanged(own_root, tmp_path):
    """Into the project's STATIC_ROOT, or warp's WARP_STATIC_FALLBACK when the project sets none."""
    site, own, fallback = tmp_path / "site", tmp_path / "collected", tmp_path / "env-static"
    site.mkdir()
    make_site(site, own if own_root else None)
    result = collect(site, fallback)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    where = own if own_root else fallback
    assert answer == {
        "static_root": str(where),
        "static_root_from": "settings" if own_root else "warp",
        "summary": f"{len(STATIC_FILES)} static files copied to '{where}'.",
        # What the build records of the settings, for `warp plan` and the servers that map static files themselves.
        "static_url": "/static/",
        "whitenoise_middleware": False,
        "wsgi_application": None,
    }
    assert read_tree(where) == STATIC_FILES
    assert not (fallback if own_root else own).exists()


def test_a_source_saved_in_the_same_second_as_its_copy_is_collected_again(tmp_path):
    """Django compares whole seconds and would keep the old copy: an editor's second save under --reload."""
    site, collected = tmp_path / "site", tmp_path / "collected"
    site.mkdir()
    make_site(site, collected)
    assert collect(site, tmp_path / "unused").returncode == 0
    second = int(os.stat(collected / "site.css").st_mtime) * 10**9
    os.utime(collected / "site.css", ns=(second + 200_000_000, second + 200_000_000))
    source = site / "assets" / "site.css"
    source.write_bytes(b"body { color: blue; }\n")
    os.utime(source, ns=(second + 700_000_000, second + 700_000_000))  # newer, in the same second
    untouched = site / "assets" / "js" / "app.js"  # older than its copy within the second: kept
    os.utime(collected / "js" / "app.js", ns=(second + 900_000_000, second + 900_000_000))
    os.utime(untouched, ns=(second + 100_000_000, second + 100_000_000))
    result = collect(site, tmp_path / "unused")
    assert result.returncode == 0, result.stderr
    assert (collected / "site.css").read_bytes() == b"body { color: blue; }\n"
    assert json.loads(result.stdout.splitlines()[-1])["summary"].startswith("1 static file copied")


PROBED = '''
class Handler:
    async def __call__(self, scope, receive, send):
        pass


class Legacy:
    def __call__(self, environ, start_response):
        return []


async def coroutine_app(scope, receive, send):
    pass


def wsgi_app(environ, start_response):
    return []


handler = Handler()
legacy = Legacy()
'''


@pytest.mark.parametrize(
    "name, interface, because",
    [
        ("handler", "asgi", "probed:handler is an instance of Handler, whose __call__ is async"),
        ("coroutine_app", "asgi", "probed:coroutine_app is an async function"),
        ("legacy", "wsgi", "probed:legacy is an instance of Legacy, whose __call__ is not async"),
        ("wsgi_app", "wsgi", "probed:wsgi_app is a plain (not async) function"),
    ],
)
def test_the_loader_tells_asgi_from_wsgi(name, interface, because, tmp_path):
    """As uvicorn and Hypercorn do, in the server's process (hooks/loader.py)."""
    (tmp_path / "probed.py").write_text(PROBED)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('loader', {str(HOOKS_DIR / 'loader.py')!r})\n"
        "loader = importlib.util.module_from_spec(spec); spec.loader.exec_module(loader)\n"
        "import probed\n"
        f"print(*loader.find_interface(getattr(probed, {name!r}), 'probed:{name}'), sep='|')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split("|") == [interface, because]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_started_by_multiprocessing_exit_with_their_server(method, tmp_path):
    """A server run through a script that calls exit_workers_with_parent, killed with SIGKILL: its workers,
    forked or spawned by multiprocessing, get the parent-death signal and are gone with it."""
    script = tmp_path / "server.py"
    script.write_text(
        "import multiprocessing, os, signal, sys, time\n"
        f"sys.path.insert(0, {str(HOOKS_DIR)!r})\n"
        "from _common import exit_workers_with_parent\n"
        "exit_workers_with_parent(__name__, signal.SIGKILL)\n"
        "if __name__ == '__main__':\n"
        f"    context = multiprocessing.get_context({method!r})\n"
        "    workers = [context.Process(target=time.sleep, args=(30,)) for _ in range(2)]\n"
        "    for worker in workers:\n"
        "        worker.start()\n"
        "    print(*[worker.pid for worker in workers], flush=True)\n"
        "    time.sleep(30)\n"
    )
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    with server.stdout:
        workers = [int(pid) for pid in server.stdout.readline().split()]
    server.kill()
    server.wait()
    deadline = time.monotonic() + 10
    while any(is_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in workers if is_running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert len(workers) == 2 and not left

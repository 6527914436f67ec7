"""`warp start` end to end: every mode on every server, over real HTTP."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import APPS, SERVERS, RunningWarp, build_app, free_port, server_param, warp, why_server_unavailable
from warp.proc import find_descendants

pytestmark = pytest.mark.e2e

# (case id, sample app, warp start arguments, path, text expected in the page)
CASES = [
    ("django", "django_site", [], "/admin/login/", "Django"),
    ("flask-wsgi.py", "flask_wsgi", [], "/", "hello from flask"),
    ("pyramid-paste.ini", "pyramid_paste", [], "/", "hello from pyramid"),
    ("home-and-app", "blog", ["--home", "personal-blog", "--app", "wsgiapp:wsgi_app"], "/", "My personal blog"),
    ("script-file", "script", ["--app", "hello.wsgi"], "/", "hello from a script file"),
]


@pytest.mark.parametrize("server", [server_param(s) for s in SERVERS])
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_serves_each_mode_on_each_server(case, server, run_warp):
    _, app_name, args, path, expected = case
    app = build_app(app_name, server)
    running = run_warp(app, "--server", server, *args)
    running.wait_ready(path)
    status, body = running.get(path)
    assert status == 200, running.output()
    assert expected in body
    if app_name == "pyramid_paste":  # its paste.ini has a [server:main]: said before the server starts
        output = running.output()
        assert output.index("warning: paste.ini's [server:main] (egg:waitress#main on 127.0.0.1:6543) is not used: ") < output.index(" -----> Starting")
    if app_name == "django_site":
        status, css = running.get("/static/admin/css/base.css")
        assert status == 200, running.output()
        collected = app.home / "envs" / app.name / ".warp" / "static" / "admin" / "css" / "base.css"
        assert css == collected.read_text()  # the file collectstatic wrote, served by the server's static mapping
    assert running.stop() == 0, running.output()
    assert not running.leftovers()
    assert not running.is_listening()


def test_plan_says_a_paste_ini_server_section_is_not_used_and_how_to_follow_it():
    app = build_app("pyramid_paste", "gunicorn")  # paste.ini: use = egg:waitress#main, listen = 127.0.0.1:6543
    plan = warp("plan", "--host", "127.0.0.1", "--port", "8080", cwd=app.src, home=app.home)
    assert re.search(
        r"^paste server +egg:waitress#main on 127\.0\.0\.1:6543, not used +because warp runs gunicorn on 127\.0\.0\.1:8080 itself "
        r"\(the server, host and port above\), not paste\.ini's \[server:main\]; to follow it pass --port 6543 "
        r"\(or set PORT=6543\) and --server waitress$",
        plan.stdout, re.MULTILINE,
    ), plan.stdout
    assert plan.stderr.count("warning: ") == 1
    assert ("warning: paste.ini's [server:main] (egg:waitress#main on 127.0.0.1:6543) is not used: warp runs gunicorn on "
            "127.0.0.1:8080; to follow it pass --port 6543 (or set PORT=6543) and --server waitress") in plan.stderr
    following = warp("plan", "--host", "127.0.0.1", "--server", "waitress", cwd=app.src, home=app.home, env={"PORT": "6543"})
    assert "because warp runs waitress on 127.0.0.1:6543 itself (the server, host and port above), not paste.ini's [server:main]\n" in following.stdout
    assert "warning:" not in following.stderr


@pytest.mark.parametrize(
    "app_name, expected",
    [("app_py", "hello from app.py"), ("app_sh", "hello from app.sh")],
)
def test_serves_app_py_and_app_sh(app_name, expected, run_warp):
    app = build_app(app_name, "gunicorn")
    running = run_warp(app)
    running.wait_ready("/")
    status, body = running.get("/" if app_name == "app_py" else "/index.html")
    assert status == 200
    assert expected in body
    running.stop()
    assert not running.leftovers()


@pytest.mark.skipif(os.geteuid() != 0, reason="Apache's refusal to run as root only applies when the tests run as root")
@pytest.mark.skipif(why_server_unavailable("mod_wsgi") is not None, reason="Apache is not installed")
def test_mod_wsgi_as_root_with_unreadable_python_names_the_fix(tmp_path):
    """As root, Apache serves as www-data, which cannot read a Python under /root."""
    python = os.path.realpath(sys.executable)
    unreadable = next((p for p in Path(python).parents if p.stat().st_mode & 0o005 != 0o005), None)
    if unreadable is None:
        pytest.skip(f"{python} is readable by everyone here")
    project = tmp_path / "project"
    shutil.copytree(APPS / "flask_wsgi", project)
    home = tmp_path / "home"
    warp("build", cwd=project, home=home, env={"WARP_PYTHON": python})
    result = warp("start", "--server", "mod_wsgi", "--host", "127.0.0.1", "--port", str(free_port()),
                  cwd=project, home=home, check=False, env={"WARP_PYTHON": python})
    assert result.returncode == 1
    assert "Running as root: Apache will serve the app as user www-data" in result.stderr
    assert "error: Apache runs the app as www-data (it refuses to run as root), and www-data cannot read" in result.stderr
    assert "warp activate --python /usr/bin/python3" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("server", [server_param(s) for s in ("uwsgi", "mod_wsgi")])
def test_killing_warp_leaves_no_orphaned_server(server, run_warp):
    """Where warp supervises the server, the server goes when warp is SIGKILLed."""
    app = build_app("flask_wsgi", server)
    running = run_warp(app, "--server", server)
    running.wait_ready("/")
    assert len(running.tree) > 2, "expected warp, the server and its workers"
    os.kill(running.proc.pid, signal.SIGKILL)
    running.proc.wait()
    deadline = time.monotonic() + 20
    while running.leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running.leftovers(), running.output()
    assert not running.is_listening()


def test_waitress_runs_several_processes_and_replaces_one_that_dies(run_warp):
    """Waitress is one process; warp's launcher forks several, as gunicorn's arbiter does."""
    app = build_app("flask_wsgi", "waitress")
    running = run_warp(app, "--server", "waitress", "--processes", "2")
    running.wait_ready("/")
    pids = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        pids.add(int(re.search(r"pid (\d+)", running.get("/")[1]).group(1)))
    assert len(pids) == 2, running.output()

    victim = pids.pop()
    victims_socket = {inode for inode, pid in listening_sockets(running.port).items() if pid == victim}
    assert victims_socket, running.output()
    os.kill(victim, signal.SIGKILL)
    # Each process has its own listening socket: a connection that reaches the victim's queue before the kernel
    # has closed it is reset (as with any SO_REUSEPORT server); from then on, the others take every connection.
    deadline = time.monotonic() + 10
    while victims_socket & set(listening_sockets(running.port)) and time.monotonic() < deadline:
        time.sleep(0.005)
    seen = set()
    deadline = time.monotonic() + 20
    while len(seen - pids) < 1 and time.monotonic() < deadline:
        status, body = running.get("/")
        assert status == 200
        seen.add(int(re.search(r"pid (\d+)", body).group(1)))
    assert victim not in seen and seen - pids, running.output()  # a new process took the dead one's place
    assert f"waitress process {victim} exited with -9; starting another" in running.output()

    running.tree = find_descendants(running.proc.pid) | {running.proc.pid}
    assert running.stop(signal.SIGTERM, timeout=30) == 0, running.output()
    assert not running.leftovers(), running.output()
    assert not running.is_listening()


@pytest.mark.parametrize("server, args, env", [("waitress", [], {}), ("gunicorn", ["--reload"], {"WARP_RELOAD_WARM": "0"})],
                         ids=["waitress", "gunicorn-wrapper"])
def test_the_objects_the_apps_import_made_are_frozen_in_the_server(server, args, env, run_warp):
    """Where warp loads the app (Waitress's launcher, warp's WSGI module), the collector no longer walks its import."""
    app = build_app("flask_wsgi", server)
    running = run_warp(app, "--server", server, *args, env=env)
    running.wait_ready("/")
    status, body = running.get("/frozen")
    assert status == 200 and int(body) > 10_000, running.output()  # Flask and the app: tens of thousands of objects
    assert running.stop() == 0, running.output()


def listening_sockets(port: int) -> dict[str, int | None]:
    """Each socket that listens on 127.0.0.1:port ('socket:[inode]'), with the process that holds it (from /proc)."""
    owners: dict[str, int | None] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            owners[f"socket:[{inode}]"] = None
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target in owners:
            owners[target] = int(fd.parts[2])
    return owners


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_each_process_listens_on_its_own_socket(server, run_warp):
    """On one shared socket the process that wakes first takes most keep-alive connections; with a SO_REUSEPORT
    socket per process the kernel spreads them (docs/benchmarks.md)."""
    app = build_app("flask_wsgi", server)
    running = run_warp(app, "--server", server, "--processes", "2")
    running.wait_ready("/")
    deadline = time.monotonic() + 20
    while len(listening_sockets(running.port)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # a process listens once it has loaded the app, the first one a little earlier
    owners = list(listening_sockets(running.port).values())
    workers = find_descendants(running.proc.pid)
    assert len(owners) == 2 and set(owners) <= workers and len(set(owners)) == 2, (owners, workers, running.output())

    connections = [http.client.HTTPConnection("127.0.0.1", running.port, timeout=10) for _ in range(40)]
    for connection in connections:
        connection.connect()
    served = Counter()
    for _ in range(2):  # each connection is kept alive and stays with the process that accepted it
        for connection in connections:
            connection.request("GET", "/")
            served[int(re.search(r"pid (\d+)", connection.getresponse().read().decode()).group(1))] += 1
    for connection in connections:
        connection.close()
    assert set(served) == set(owners) and min(served.values()) >= 10, (served, running.output())


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_a_start_imports_the_app_once_in_the_server_and_an_edit_is_caught_there(server, tmp_path, run_warp):
    """No interpreter asks the app before the server: one process, one import; a later edit's error comes from it."""
    app = build_app("flask_wsgi", server, copy_as=f"import_once-{server}")
    imports = tmp_path / "imports"
    source = app.src / "wsgi.py"
    original = source.read_text()
    source.write_text(f"import os\nwith open({str(imports)!r}, 'a') as _f:\n    _f.write(str(os.getpid()) + '\\n')\n" + original)
    try:
        running = run_warp(app, "--server", server, "--processes", "1")
        running.wait_ready("/")
        assert running.stop() == 0
        pids = imports.read_text().split()
        assert len(pids) == 1, pids  # the server's process alone imported it
        assert not (app.home / "envs" / app.name / ".warp" / "run" / "app-check.json").exists()

        source.write_text(source.read_text() + "\ndef broken(:\n")
        result = warp("start", "--server", server, "--host", "127.0.0.1", "--port", str(free_port()), cwd=app.src, home=app.home,
                      check=False, timeout=120)
    finally:
        source.write_text(original)
    assert result.returncode != 0, result.stderr
    assert result.stderr.count("--- traceback from the application (not from warp) ---") == 1, result.stderr
    assert "SyntaxError" in result.stderr and "error: the application failed to import: " in result.stderr


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def test_a_unix_socket_gets_its_own_directory_made_and_said_and_no_all_interfaces_line(run_warp, tmp_path):
    app = build_app("flask_wsgi", "gunicorn")
    path = tmp_path / "sockets" / "app.sock"  # one missing level: made, and said so
    running = run_warp(app, "--host", "0.0.0.0", "--socket", str(path))
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline and running.proc.poll() is None:
        time.sleep(0.05)
    connection = UnixHTTPConnection(str(path))
    for _ in range(100):
        try:
            connection.request("GET", "/")
            break
        except OSError:
            connection.close()
            time.sleep(0.05)
    response = connection.getresponse()
    assert response.status == 200 and b"hello from flask" in response.read(), running.output()
    assert running.stop() == 0
    output = running.output()
    assert f" -----> Created {path.parent} for the socket" in output
    assert f"Starting gunicorn on unix:{path} (http protocol)" in output
    assert "Listening on all interfaces" not in output


def test_a_build_waits_for_a_starting_server_and_runs_once_it_has_started(run_warp, tmp_path):
    """From the check that the build is done until the server runs, no build may change the env under it."""
    app = build_app("flask_wsgi", "gunicorn", copy_as="start_holds_build")
    marker = tmp_path / "deploying"
    hook = app.src / ".warp" / "action_hooks" / "deploy"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 3\n")
    hook.chmod(0o755)
    try:
        running = run_warp(app)
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        during = warp("build", "--no-wait", cwd=app.src, home=app.home, check=False)
        assert during.returncode == 1 and "another build of env" in during.stderr, during.stderr
        running.wait_ready("/")
        after = warp("build", "--no-wait", cwd=app.src, home=app.home, check=False)
        assert after.returncode == 0, after.stderr
        assert running.stop() == 0
    finally:
        hook.unlink()


@pytest.mark.slow
@pytest.mark.skipif(why_server_unavailable("mod_wsgi") is not None, reason="Apache is not installed")
def test_mod_wsgi_setup_runs_again_only_when_what_it_reads_changed():
    """mod_wsgi-express setup-server writes Apache's configuration; a start with the same inputs reuses it."""
    app = build_app("flask_wsgi", "mod_wsgi")
    port = free_port()

    def start(*args: str) -> float:
        running = RunningWarp(app, ["--server", "mod_wsgi", *args], port)
        try:
            running.wait_ready("/")
            assert running.get("/")[0] == 200
            conf = next(Path(tempfile.gettempdir()).glob(f"warp-{os.geteuid()}/*/mod_wsgi-{port}/httpd.conf"))
            return conf.stat().st_mtime_ns
        finally:
            assert running.stop(signal.SIGTERM, timeout=60) == 0, running.output()
            running.close()

    first = start("--threads", "3")
    assert start("--threads", "3") == first  # nothing changed: setup-server did not run
    changed = start("--threads", "5")
    assert changed != first  # another argument: written again
    conf = next(Path(tempfile.gettempdir()).glob(f"warp-{os.geteuid()}/*/mod_wsgi-{port}/httpd.conf"))
    assert "threads=5" in conf.read_text()
    conf.unlink()  # a file it wrote is gone: written again, and Apache starts
    assert start("--threads", "5") != changed


PASTE_LOGGING = """
[loggers]
keys = root

[handlers]
keys = file

[formatters]
keys = plain

[logger_root]
level = INFO
handlers = file

[handler_file]
class = FileHandler
args = (r'%(here)s/app.log', 'a')
formatter = plain

[formatter_plain]
format = %(name)s %(message)s
"""


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_a_paste_ini_sets_up_its_logging_as_pserve_does(server, run_warp):
    app = build_app("pyramid_paste", server, copy_as=f"paste-logging-{server}")
    ini = app.src / "paste.ini"
    if "[loggers]" not in ini.read_text():
        ini.write_text(ini.read_text() + PASTE_LOGGING)
    running = run_warp(app, "--server", server)
    running.wait_ready("/")
    assert running.get("/")[0] == 200
    assert (app.src / "app.log").exists(), running.output()  # the ini's FileHandler, made where its %(here)s says
    assert running.stop() == 0, running.output()

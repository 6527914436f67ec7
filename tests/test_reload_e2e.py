"""`warp start --reload` end to end: edits served, no failed requests, crashes survived."""

from __future__ import annotations

import http.client
import os
import re
import signal
import threading
import time

import pytest

from conftest import SERVERS, build_app, canned_server, find_cause, http_get, server_param

pytestmark = pytest.mark.e2e


def edit(path, pattern, replacement):
    path.write_text(re.sub(pattern, replacement, path.read_text()))


def wait_for_text(running, text, timeout=30, path="/"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, body = running.get(path, timeout=10)
            if status == 200 and text in body:
                return body
        except (OSError, http.client.HTTPException):  # waiting only; a response cut off by the restart is retried
            pass
        time.sleep(0.02)
    raise AssertionError(f"{text!r} was not served within {timeout}s\n{running.output()}")


def wait_for_output(running, pattern, timeout=10):
    """warp prints its reload line just after the new server is up; give it that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, running.output()):
            return
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in the output within {timeout}s\n{running.output()}")


#: How a request inside an Apache child that its restart ends is cut off: reset, or the response ends early.
CUT_OFF = (ConnectionResetError, BrokenPipeError, http.client.IncompleteRead)


def is_cut_off(failure) -> bool:
    return isinstance(failure, BaseException) and isinstance(find_cause(failure), CUT_OFF)


class Poller(threading.Thread):
    """Requests ``path`` in a loop and keeps the ones that fail: an error status or any exception."""

    def __init__(self, get, path="/"):
        super().__init__(daemon=True)
        self.get, self.path, self.ok, self.failed, self.done = get, path, 0, [], threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                status, _ = self.get(self.path, timeout=30)
            except Exception as exc:  # noqa: BLE001  (every way a request fails is a failure to report)
                self.failed.append(exc)
            else:
                if status == 200:
                    self.ok += 1
                else:
                    self.failed.append(status)
            time.sleep(0.01)

    def finish(self) -> list:
        """Stop polling; the failures, a poller that ended before it was told to among them."""
        ended_early = not self.is_alive()
        self.done.set()
        self.join(timeout=40)
        return self.failed + ["the poller ended before it was stopped"] * ended_early + ["the poller did not stop"] * self.is_alive()


def start_reloading(run_warp, name: str, server: str, copy_as: str, source: str, served: str):
    """A private copy of app ``name`` under `warp start --reload` on ``server``, serving ``served``: (app, source, running)."""
    app = build_app(name, server, copy_as=copy_as)
    running = run_warp(app, "--server", server, "--reload", env={"SLOW_SECONDS": "0.3"})
    running.wait_ready("/")
    wait_for_text(running, served)
    return app, app.src / source, running


def start_pollers(running, slow: bool = True) -> tuple[Poller, Poller | None]:
    """Pollers of / and (with ``slow``) /slow, started."""
    pollers = (Poller(running.get), Poller(running.get, "/slow") if slow else None)
    for each in filter(None, pollers):
        each.start()
    return pollers


def edit_in_turn(running, source, pattern: str, replacement: str, served: str, count: int = 3) -> None:
    """Edit ``source`` ``count`` times (``{n}`` in ``replacement`` numbers each), waiting each time for ``served``."""
    for n in range(count):
        time.sleep(0.3)
        edit(source, pattern, replacement.format(n=n))
        wait_for_text(running, served.format(n=n))


@pytest.mark.parametrize(
    "answer, failure",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut short", http.client.IncompleteRead),
        (b"", http.client.RemoteDisconnected),
        (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", 500),
    ],
    ids=["incomplete-read", "no-response", "error-status"],
)
def test_the_poller_keeps_every_failure_and_keeps_polling(answer, failure):
    with canned_server(answer) as url:
        poller = Poller(lambda path, timeout: http_get(url + path, timeout))
        poller.start()
        deadline = time.monotonic() + 5
        while len(poller.failed) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        failures = poller.finish()
    assert len(failures) >= 2 and poller.ok == 0, failures
    assert all(f == failure if isinstance(failure, int) else isinstance(f, failure) for f in failures), failures


@pytest.mark.parametrize("server", [server_param(s) for s in SERVERS])
def test_reload_serves_each_edit_and_survives_a_syntax_error(server, run_warp):
    app, source, running = start_reloading(run_warp, "flask_wsgi", server, f"reload_{server}", "wsgi.py", "hello from flask")

    # A replaced server finishes the requests it is serving: one is nearly always inside it at each restart.
    poller, slow = start_pollers(running, slow=server != "mod_wsgi")
    edit_in_turn(running, source, r'f"[^"]* pid', 'f"edit {n} pid', "edit {n} pid")
    failures = poller.finish()
    if server == "mod_wsgi":
        # Apache's restart ends its children: a request inside one at that moment is cut off (documented);
        # a refused connection, an error status, a timeout or anything else would be a defect.
        assert len(failures) <= 3 and all(map(is_cut_off, failures)), (failures, running.output())
    else:
        failures += slow.finish()
        assert failures == [], (failures, running.output())
        assert slow.ok > 3
    assert poller.ok > 3
    wait_for_output(running, r"( -----> Restarted \S+[^\n]*\n(.*\n)*){3}")

    # Files the app writes itself do not restart it: the pid stays the same.
    pid = re.search(r"pid (\d+)", wait_for_text(running, "edit 2")).group(1)
    (app.src / "app.log").write_text("a log line\n")
    (app.src / "db.sqlite3").write_bytes(b"SQLite format 3\0")
    time.sleep(1.0)
    assert f"pid {pid}" in running.get("/")[1]

    # A syntax error does not end the session; the fix is served.
    text = source.read_text()
    source.write_text(text + "\ndef broken(:\n")
    # The other servers exit and warp waits; Apache stays up, and its new children report that the app did not load.
    said = "did not load after the change to wsgi.py" if server == "mod_wsgi" else "fix the error above and save to restart"
    deadline = time.monotonic() + 30
    while said not in running.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert said in running.output()
    assert "SyntaxError" in running.output()
    source.write_text(text.replace("edit 2 pid", "fixed pid"))
    wait_for_text(running, "fixed pid")
    assert running.proc.poll() is None

    assert running.stop(signal.SIGINT, timeout=30) == 0, running.output()
    assert not running.leftovers(), running.output()
    assert not running.is_listening()


def test_reload_installs_changed_requirements_before_restarting(run_warp):
    app = build_app("flask_wsgi", "gunicorn", copy_as="reload_requirements")
    running = run_warp(app, "--reload")
    running.wait_ready("/")
    (app.src / "wsgi.py").write_text((app.src / "wsgi.py").read_text().replace("hello from flask", "six is {__import__('six').__version__}"))
    (app.src / "requirements.txt").write_text("Flask\nsix\n")
    wait_for_text(running, "six is 1.")
    assert "requirements.txt changed: building" in running.output()
    running.stop(signal.SIGTERM)
    assert not running.leftovers()


def test_reload_restarts_an_app_py_that_binds_the_port_itself(run_warp):
    """app.py listens on $PORT itself: warp stops it, starts it again and waits until the port accepts."""
    app = build_app("app_py", "gunicorn", copy_as="reload_app_py")
    source = app.src / "app.py"
    running = run_warp(app, "--reload")
    running.wait_ready("/")
    wait_for_text(running, "hello from app.py")
    edit(source, r"hello from app\.py[^\"]*", "hello again from app.py")
    wait_for_text(running, "hello again from app.py")
    wait_for_output(running, r" -----> Restarted python in \d+\.\d\ds after a change to app\.py")
    assert running.stop(signal.SIGTERM, timeout=30) == 0
    assert not running.leftovers()
    assert not running.is_listening()


def edit_static_file(running, path, text, timeout=60):
    """Write ``text`` to the source static file ``path``: collected again, it is served at /static/NAME."""
    path.write_text(text)
    url = f"/static/{path.name}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if running.get(url, timeout=10)[1] == text:
                break
        except (OSError, http.client.HTTPException):  # waiting only; a response cut off by a restart is retried
            pass
        time.sleep(0.05)
    assert running.get(url) == (200, text), running.output()
    assert "Collecting Django static files" in running.output()


def test_reload_collects_an_edited_django_static_file_without_a_restart(run_warp):
    from conftest import django_site_with_assets, warp

    app, css = django_site_with_assets("reload_django")
    warp("build", cwd=app.src, home=app.home)
    running = run_warp(app, "--reload")
    running.wait_ready("/static/site.css")
    assert running.get("/static/site.css") == (200, "body { color: red; }\n")
    restarts = running.output().count("Restarted")
    new = "body { color: blue; background: white; }\n"  # longer: a stale Content-Length would cut it
    edit_static_file(running, css, new)
    assert running.output().count("Restarted") == restarts  # static files need no restart
    running.stop()
    assert not running.leftovers()


def test_reload_builds_a_changed_pyproject_as_it_is_now(run_warp):
    """The build after an edit of pyproject.toml installs the new dependencies, not the ones read at start."""
    from conftest import warp

    app = build_app("flask_wsgi", "gunicorn", copy_as="reload_pyproject")
    pyproject = app.src / "pyproject.toml"
    (app.src / "requirements.txt").unlink(missing_ok=True)
    pyproject.write_text('[project]\nname = "site"\nversion = "1"\ndependencies = ["flask"]\n')
    warp("build", cwd=app.src, home=app.home)
    running = run_warp(app, "--reload")
    running.wait_ready("/")
    source = app.src / "wsgi.py"
    source.write_text(source.read_text().replace("hello from flask", "iniconfig is {__import__('iniconfig').__name__}"))
    pyproject.write_text(pyproject.read_text().replace('["flask"]', '["flask", "iniconfig"]'))
    wait_for_text(running, "iniconfig is iniconfig")
    assert "pyproject.toml changed: building" in running.output()
    running.stop(signal.SIGTERM)
    assert not running.leftovers()


def test_reload_exits_with_128_plus_the_signal_that_killed_its_server(run_warp):
    from warp.proc import scan_process_table

    app = build_app("flask_wsgi", "gunicorn")
    running = run_warp(app, "--reload")
    running.wait_ready("/")
    children = [pid for pid, (_, parent, _) in scan_process_table().items() if parent == running.proc.pid]
    # gunicorn's arbiter, not the parked process of warm reloads
    (server,) = [pid for pid in children if b"warm_parent.py" not in open(f"/proc/{pid}/cmdline", "rb").read()]
    os.kill(server, signal.SIGKILL)
    wait_for_output(running, r"warning: gunicorn exited with code -9")
    assert running.stop(signal.SIGTERM, timeout=30) == 128 + signal.SIGKILL, running.output()
    assert not running.leftovers()


def test_reload_restarts_an_app_whose_whitenoise_middleware_serves_its_static_files(run_warp):
    """Its WhiteNoise lists the static files when it starts (DEBUG is off), so a collected edit needs a new server."""
    app = build_app("django_whitenoise", "gunicorn", copy_as="reload_whitenoise")
    running = run_warp(app, "--reload")
    running.wait_ready("/static/site.css")
    css = app.src / "assets" / "site.css"
    assert running.get("/static/site.css") == (200, css.read_text())
    new = css.read_text() + ".edited { color: blue; }\n"
    edit_static_file(running, css, new)
    # warp prints its line just after the new server is up, which may be after the first request it answers
    wait_for_output(running, r"Restarted gunicorn in \d+\.\d\ds after a change to assets/site\.css")
    running.stop()
    assert not running.leftovers()

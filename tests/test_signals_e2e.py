"""Signals and processes: `warp start` on each server, stopped under load, or losing its server.

Stops are judged on the process table (nothing of warp's tree left, not even a
zombie) and on the port (nothing listening), never on wall-clock limits.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import nullcontext
from pathlib import Path

import pytest

from conftest import SERVERS, build_app, canned_server, find_cause, free_port, http_get, server_param
from warp.hookdir import HOOKS_DIR
from warp.proc import find_descendants, scan_process_table

pytestmark = pytest.mark.e2e

#: How a connection the stopping server never took ends for its client: refused, or reset while queued.
NOT_TAKEN = ("refused", "ConnectionResetError", "RemoteDisconnected", "BrokenPipeError")

#: Servers warp execs (their own SIGTERM is graceful); warp supervises the others.
EXECED = ("gunicorn", "waitress")


def left_in_table(tree: set[int], wait: float = 10) -> dict[int, str]:
    """Processes of ``tree`` still in the process table (a zombie counts), after up to ``wait`` seconds to go."""
    deadline = time.monotonic() + wait
    while True:
        table = scan_process_table()
        left = {pid: table[pid][0] for pid in tree if pid in table}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


class Load:
    """Threads that GET / in a loop, counting outcomes until told to stop.

    An outcome is a status; "refused" when the connection was refused, before
    anything was sent; else the name of the error that cut the request off
    once under way (a reset, a response ended early).
    """

    def __init__(self, url: str, threads: int = 8) -> None:
        self.url = url
        self.statuses: dict[object, int] = {}
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.hammer) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def hammer(self) -> None:
        while not self.done.is_set():
            try:
                outcome, _ = http_get(self.url, timeout=30)
            except Exception as exc:  # noqa: BLE001  (every way a request fails is an outcome to count)
                cause = find_cause(exc)
                outcome = "refused" if isinstance(cause, ConnectionRefusedError) else type(cause).__name__
                time.sleep(0.01)
            with self.lock:
                self.statuses[outcome] = self.statuses.get(outcome, 0) + 1

    def stop(self) -> dict[object, int]:
        self.done.set()
        for thread in self.threads:
            thread.join(timeout=60)
        return self.statuses


@pytest.mark.parametrize(
    "answer, outcome",
    [
        (None, "refused"),
        (b"", "RemoteDisconnected"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut short", "IncompleteRead"),
    ],
    ids=["refused", "no-response", "incomplete-read"],
)
def test_load_tells_a_refused_connection_from_a_request_cut_off(answer, outcome):
    with canned_server(answer) if answer is not None else nullcontext(f"http://127.0.0.1:{free_port()}") as url:
        load = Load(url + "/", threads=2)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with load.lock:
                if sum(load.statuses.values()) >= 4:
                    break
            time.sleep(0.01)
        statuses = load.stop()
    assert set(statuses) == {outcome} and statuses[outcome] >= 4, statuses


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
@pytest.mark.parametrize("server", [server_param(s) for s in SERVERS])
def test_stop_under_load_is_graceful_and_leaves_nothing(server, how, run_warp):
    """SIGTERM (Kubernetes, systemd) and Ctrl-C (SIGINT to the whole foreground group) while requests run."""
    app = build_app("flask_wsgi", server)
    running = run_warp(app, "--server", server, "--graceful-timeout", "15", env={"SLOW_SECONDS": "2"})
    running.wait_ready("/")
    load = Load(running.url("/"))
    slow = {}
    thread = threading.Thread(target=lambda: slow.setdefault("response", running.get("/slow")))
    thread.start()
    time.sleep(0.7)  # the slow request is inside the app
    tree = find_descendants(running.proc.pid) | {running.proc.pid}
    if how == "sigterm":
        running.proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(running.proc.pid, signal.SIGINT)
    code = running.proc.wait(timeout=60)
    thread.join(timeout=30)
    statuses = load.stop()

    assert slow.get("response") == (200, "slow done"), running.output()
    assert statuses.get(200, 0) > 0
    # The request under way (the slow one, inside the app) is answered. A connection still waiting in the
    # listen queue when the server stops listening is reset by the kernel, on every server; how long a
    # request waits there depends on the machine's load, so the client cannot tell those apart from the
    # ones that came after the signal: refused or reset before any response, never an error status or
    # a response cut short.
    assert set(statuses) <= {200, *NOT_TAKEN}, (statuses, running.output())
    assert code == 0, running.output()
    assert left_in_table(tree) == {}, running.output()
    assert not running.is_listening()


@pytest.mark.parametrize("server", [server_param(s) for s in SERVERS])
def test_a_server_that_dies_makes_warp_exit_with_its_code(server, run_warp):
    """The server's main process is killed (the OOM killer, say): warp ends with the server's code, leaving nothing."""
    app = build_app("flask_wsgi", server)
    running = run_warp(app, "--server", server)
    running.wait_ready("/")
    tree = find_descendants(running.proc.pid) | {running.proc.pid}
    if server in EXECED:
        main = running.proc.pid  # warp exec'd the server: its process is the server's
    else:
        table = scan_process_table()
        main = next(pid for pid in tree if table.get(pid, ("", 0, 0))[1] == running.proc.pid)
    os.kill(main, signal.SIGKILL)
    code = running.proc.wait(timeout=60)

    assert code == (-signal.SIGKILL if server in EXECED else 128 + signal.SIGKILL), running.output()
    assert left_in_table(tree, wait=30) == {}, running.output()
    assert not running.is_listening()


def start_slow_loading_waitress(tmp_path, processes: int, port: int, graceful: float) -> tuple[subprocess.Popen, Path]:
    """warp's Waitress launcher (as `warp start` execs it) on an app whose import takes 2 s; each process that
    imports it adds a line to the file returned."""
    app = build_app("flask_wsgi", "waitress")
    loading = tmp_path / "loading"
    (tmp_path / "slow_wsgi.py").write_text(
        f"import os, time\nwith open({str(loading)!r}, 'a') as f:\n    f.write(f'{{os.getpid()}}\\n')\n"
        "time.sleep(2)\nfrom wsgi import application\n"
    )
    argv = [str(app.home / "envs" / app.name / "bin" / "python"), str(HOOKS_DIR / "waitress_serve.py"), "--processes",
            str(processes), "--listen", f"127.0.0.1:{port}", "--script", str(tmp_path / "slow_wsgi.py"), "--graceful-timeout", str(graceful)]
    with open(tmp_path / "log", "w") as log:
        launcher = subprocess.Popen(argv, cwd=app.src, env={**os.environ, "PYTHONPATH": f"{tmp_path}:{app.src}"},
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return launcher, loading


def wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while not (path.exists() and len(path.read_text().splitlines()) >= count) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(path.read_text().splitlines()) >= count


def kill_group(launcher: subprocess.Popen) -> None:
    try:
        os.killpg(launcher.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    launcher.wait()


def test_waitress_stopped_while_the_app_loads_forks_nothing_more(tmp_path):
    """SIGTERM while the first of several Waitress processes still imports the app (systemd or Kubernetes may stop a
    service at any moment): the launcher starts no other process, stops the one loading and exits well within the
    graceful timeout, leaving nothing in the process table."""
    graceful = 10
    launcher, loading = start_slow_loading_waitress(tmp_path, 3, free_port(), graceful)
    try:
        wait_for_lines(loading, 1)
        tree = find_descendants(launcher.pid) | {launcher.pid}
        launcher.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        try:
            code = launcher.wait(timeout=graceful)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - stopped
        group = {pid for pid, (_, _, pgid) in scan_process_table().items() if pgid == launcher.pid}

        assert code == 0, f"the launcher was still running {took:.1f}s after SIGTERM\n{(tmp_path / 'log').read_text()}"
        assert len(loading.read_text().splitlines()) == 1, "processes were started after the stop"
        assert left_in_table(tree | group) == {}
    finally:
        kill_group(launcher)


def test_a_waitress_process_still_loading_the_app_takes_no_connection(tmp_path):
    """A process listens only once its app is loaded: before, the kernel would hand it a share of new connections,
    which wait for the import and are reset if a stop comes first. Here every request made while the second
    process imports the app is answered, though SIGTERM comes before that import ends."""
    port = free_port()
    launcher, loading = start_slow_loading_waitress(tmp_path, 2, port, 10)
    try:
        wait_for_lines(loading, 2)  # the first has loaded the app, the second is importing it
        statuses: list[object] = []

        def get() -> None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
                    statuses.append(response.status)
            except OSError as exc:
                statuses.append(repr(exc))

        threads = [threading.Thread(target=get) for _ in range(20)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # every request the loaded process took is answered by now
        launcher.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=30)
        assert launcher.wait(timeout=20) == 0

        assert statuses == [200] * 20, (statuses, (tmp_path / "log").read_text())
        assert len(loading.read_text().splitlines()) == 2
    finally:
        kill_group(launcher)


def find_workers(pid: int) -> set[int]:
    """The server processes directly below ``pid`` (its workers), not multiprocessing's resource tracker."""
    table = scan_process_table()
    workers = set()
    for child, (state, parent, _) in table.items():
        if parent == pid and state != "Z":
            try:
                with open(f"/proc/{child}/cmdline", "rb") as handle:
                    if b"resource_tracker" in handle.read():
                        continue
            except OSError:
                continue
            workers.add(child)
    return workers


def wait_until_each_answers(running, workers: set[int], timeout: float = 30) -> None:
    """Until each of ``workers`` has answered a request (the app's / tells its pid): all of them are serving."""
    answered: set[int] = set()
    deadline = time.monotonic() + timeout
    while not workers <= answered and time.monotonic() < deadline:
        answered.add(json.loads(running.get("/")[1])["pid"])
    assert workers <= answered, (workers, answered, running.output())


def test_granian_replaces_a_worker_that_is_killed(run_warp):
    """A Granian worker killed (the OOM killer, say): another takes its place and the server goes on serving,
    as on every other server; Granian's default is to stop altogether."""
    app = build_app("fastapi_app", "granian")
    running = run_warp(app, "--server", "granian", "--processes", "2")
    running.wait_ready("/")
    workers = find_workers(running.proc.pid)
    assert len(workers) == 2, running.output()
    wait_until_each_answers(running, workers)
    os.kill(min(workers), signal.SIGKILL)
    statuses: dict[object, int] = {}
    answered_by: set[int] = set()
    replaced: set[int] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and running.proc.poll() is None and not (replaced and replaced <= answered_by):
        if not replaced:
            replaced = find_workers(running.proc.pid) - workers
            time.sleep(0.05)
            continue
        try:
            outcome, body = running.get("/", timeout=10)
            answered_by.add(json.loads(body)["pid"])
        except Exception as exc:  # noqa: BLE001  (every way a request fails is an outcome to count)
            outcome = type(find_cause(exc)).__name__
        statuses[outcome] = statuses.get(outcome, 0) + 1
        time.sleep(0.01)

    assert running.proc.poll() is None, running.output()
    assert len(replaced) == 1 and replaced <= answered_by, (replaced, answered_by, running.output())
    # Connections waiting in the killed worker's own queue are reset by the kernel; once another is there, none is.
    assert set(statuses) == {200}, (statuses, running.output())
    assert running.stop() == 0, running.output()


@pytest.mark.parametrize(
    "app_name, server",
    [
        ("fastapi_app", "granian"),
        ("django_asgi", "uvicorn"),  # warp execs uvicorn (no lifespan: nothing for warp to watch)...
        ("fastapi_app", "uvicorn"),  # ...and stays its parent when a failed startup must be caught
        ("django_asgi", "hypercorn"),
        ("django_asgi", "gunicorn"),
        ("flask_wsgi", "gunicorn"),
        ("flask_wsgi", "waitress"),
        pytest.param("flask_wsgi", "uwsgi", marks=server_param("uwsgi").marks),
        pytest.param("flask_wsgi", "mod_wsgi", marks=server_param("mod_wsgi").marks),
    ],
    ids=["granian", "uvicorn-execed", "uvicorn-supervised", "hypercorn", "gunicorn-asgi", "gunicorn", "waitress", "uwsgi", "mod_wsgi"],
)
def test_a_killed_warp_start_leaves_no_server_and_the_port_free(app_name, server, run_warp):
    """`warp start`, or the server it became, killed with SIGKILL (an OOM killer, `systemctl kill -s KILL`): within
    seconds no process of its tree is left, none listens, and the next `warp start` on that port serves."""
    app = build_app(app_name, server)
    running = run_warp(app, "--server", server, "--processes", "2")
    running.wait_ready("/")
    tree, deadline = set(), time.monotonic() + 30
    while time.monotonic() < deadline:  # the whole tree: a worker may still be on its way when the first answers
        time.sleep(0.5)
        tree, before = find_descendants(running.proc.pid) | {running.proc.pid}, tree
        if len(tree) >= 3 and tree == before:
            break
    assert len(tree) >= 3, running.output()  # warp or the server, and two workers
    os.kill(running.proc.pid, signal.SIGKILL)
    running.proc.wait(timeout=10)

    assert left_in_table(tree, wait=10) == {}, running.output()
    assert not running.is_listening()
    again = run_warp(app, "--server", server, port=running.port)
    again.wait_ready("/", timeout=60)
    assert again.stop() == 0, again.output()


class KeepAliveLoad:
    """Threads that each GET / on one keep-alive connection, as fast as answered, until the server says
    Connection: close, a request fails, or ``count`` requests or ``seconds`` have passed; each thread ends with why."""

    def __init__(self, port: int, threads: int = 4, count: int = 20000, seconds: float = 30) -> None:
        self.port, self.count, self.until = port, count, time.monotonic() + seconds
        self.ends: list[tuple[str, float]] = []  # (how the thread ended, when)
        self.statuses: dict[object, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.hammer) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def hammer(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        end = "count or time"
        try:
            for _ in range(self.count):
                if time.monotonic() > self.until:
                    break
                try:
                    connection.request("GET", "/")
                    response = connection.getresponse()
                    response.read()
                except Exception as exc:  # noqa: BLE001  (every way a request fails is an outcome to count)
                    end = type(exc).__name__
                    break
                with self.lock:
                    self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                if response.getheader("Connection", "").lower() == "close":
                    end = "closed by the server"
                    break
        finally:
            connection.close()
            with self.lock:
                self.ends.append((end, time.monotonic()))

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout=timeout)


def test_waitress_stops_under_keep_alive_load_refusing_new_connections(run_warp):
    """SIGTERM while keep-alive connections are busy and a slow request is in flight: the listening socket closes at
    once (a new connection is refused), the slow request is answered, each keep-alive connection is closed after
    its next response, and the server exits long before the load would have ended."""
    app = build_app("flask_wsgi", "waitress")
    running = run_warp(app, "--server", "waitress", "--processes", "2", "--graceful-timeout", "15", env={"SLOW_SECONDS": "2"})
    running.wait_ready("/")
    load = KeepAliveLoad(running.port)
    slow = {}
    thread = threading.Thread(target=lambda: slow.setdefault("response", running.get("/slow")))
    thread.start()
    time.sleep(0.7)  # the slow request is inside the app, the keep-alive connections busy
    running.proc.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    time.sleep(0.5)
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=3) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            new_connection = sock.recv(100) or "closed"
    except OSError as exc:
        new_connection = type(exc).__name__
    code = running.proc.wait(timeout=30)
    exited = time.monotonic() - stopped
    thread.join(timeout=30)
    load.join(timeout=30)

    assert new_connection == "ConnectionRefusedError", (new_connection, running.output())
    assert slow.get("response") == (200, "slow done"), running.output()
    assert set(load.statuses) == {200}, load.statuses
    assert [end for end, _ in load.ends] == ["closed by the server"] * 4, load.ends
    assert max(when for _, when in load.ends) - stopped < 3, load.ends  # each ended at its next response
    assert code == 0 and exited < 5, (code, exited, running.output())  # the slow request's 2 s, and no more waiting


@pytest.mark.parametrize(
    "app_name, server, processes",
    [("flask_wsgi", server, 2) for server in ("gunicorn", "waitress")]
    + [("fastapi_app", server, 2) for server in ("uvicorn", "hypercorn", "granian")]
    + [("flask_wsgi", "waitress", 1), ("fastapi_app", "uvicorn", 1)]
    + [pytest.param("flask_wsgi", server, 2, marks=server_param(server).marks, id=f"flask_wsgi-{server}-2") for server in ("uwsgi", "mod_wsgi")],
)
def test_sighup_reloads_the_app_and_refuses_no_request(app_name, server, processes, run_warp):
    """SIGHUP means the same on every server: new processes import the app again (its code as it is now) and serve,
    the old ones stop gracefully, warp goes on running, and no request is refused meanwhile (but by uvicorn run
    as one process, which stops and starts again)."""
    app = build_app(app_name, server, copy_as=f"{app_name}-sighup-{server}")
    source = app.src / ("wsgi.py" if app_name == "flask_wsgi" else "main.py")
    before, after = ("hello from flask", "hello again") if app_name == "flask_wsgi" else ("hello from fastapi", "hello again")
    source.write_text(source.read_text().replace(after, before))  # as built, should an earlier run have left it edited
    running = run_warp(app, "--server", server, "--processes", str(processes))
    running.wait_ready("/")
    assert before in running.get("/")[1], running.output()
    source.write_text(source.read_text().replace(before, after))
    load = Load(running.url("/"), threads=2)
    running.proc.send_signal(signal.SIGHUP)
    in_a_row, deadline = 0, time.monotonic() + 40
    while in_a_row < 20 and time.monotonic() < deadline and running.proc.poll() is None:  # every process: the new code
        try:
            in_a_row = in_a_row + 1 if after in running.get("/", timeout=10)[1] else 0
        except OSError:
            in_a_row = 0
        time.sleep(0.05)
    statuses = load.stop()

    assert running.proc.poll() is None, running.output()
    assert in_a_row == 20, running.output()
    # A connection still waiting in an old process's own queue (SO_REUSEPORT) when that one closes it is reset by the
    # kernel; none is refused, for there is always a process listening.
    refused = {"refused"} if (server, processes) == ("uvicorn", 1) else set()
    assert statuses.get(200, 0) > 0 and set(statuses) <= {200, *NOT_TAKEN} - {"refused"} | refused, (statuses, running.output())
    # uvicorn of one process ends by the SIGTERM it handled, as it does without a reload.
    assert running.stop() == (-signal.SIGTERM if (server, processes) == ("uvicorn", 1) else 0), running.output()

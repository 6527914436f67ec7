"""Signals and processes: `warp start` on each server, stopped under load, or losing its server.

Stops are judged on the process table (nothing of warp's tree left, not even a
zombie) and on the port (nothing listening), never on wall-clock limits.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import nullcontext

import pytest

from conftest import SERVERS, build_app, canned_server, find_cause, free_port, http_get, server_param
from warp.proc import find_descendants, scan_process_table

pytestmark = pytest.mark.e2e

#: How a connection the stopping server never took ends for its client: refused, or reset while queued.
NOT_TAKEN = ("refused", "ConnectionResetError", "RemoteDisconnected", "BrokenPipeError")
#: A request that began this close to the signal may still have been waiting in the queue.
MARGIN = 0.25

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
        #: (when the request began, its outcome), in the order they ended.
        self.history: list[tuple[float, object]] = []
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.hammer) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def hammer(self) -> None:
        while not self.done.is_set():
            began = time.monotonic()
            try:
                outcome, _ = http_get(self.url, timeout=30)
            except Exception as exc:  # noqa: BLE001  (every way a request fails is an outcome to count)
                cause = find_cause(exc)
                outcome = "refused" if isinstance(cause, ConnectionRefusedError) else type(cause).__name__
                time.sleep(0.01)
            with self.lock:
                self.statuses[outcome] = self.statuses.get(outcome, 0) + 1
                self.history.append((began, outcome))

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
    signalled = time.monotonic()
    if how == "sigterm":
        running.proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(running.proc.pid, signal.SIGINT)
    code = running.proc.wait(timeout=60)
    thread.join(timeout=30)
    statuses = load.stop()

    assert slow.get("response") == (200, "slow done"), running.output()
    assert statuses.get(200, 0) > 0
    # Requests under way before the stop are answered. Once the server stops listening, a connection
    # still waiting in its listen queue is reset by the kernel, on every server: refused or reset
    # before any response, never an error status or a response cut short.
    before = [outcome for began, outcome in load.history if began < signalled - MARGIN]
    after = [outcome for began, outcome in load.history if began >= signalled - MARGIN]
    assert before and set(before) == {200}, (statuses, running.output())
    assert set(after) <= {200, *NOT_TAKEN}, (statuses, running.output())
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

"""warp.run.parent: the small parent of a server whose own SIGTERM is not graceful, driving real tiny children that log
the signals they get. Signals to warp are sent to this process while parent.run() runs."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import free_port
from test_processes_e2e import wait_for

from warp.errors import StepFailed
from warp.proc import is_running, signal_group
from warp.run import parent
from warp.servers import Stop

#: A server stand-in. It logs each signal it gets; a signal in "stops" ends it with that code, one in "touch_on"
#: creates that file. "on_start" may exit, die of a signal or create a file at once; "grandchild" starts another
#: one in its process group (named by "argv0", as mod_wsgi's daemon processes name themselves).
CHILD = r"""
import json, os, signal, subprocess, sys, time
spec = json.loads(sys.argv[1])
def got(signum, frame):
    name = signal.Signals(signum).name
    with open(spec["log"], "a") as log:
        log.write(name + "\n")
    if name in spec.get("touch_on", {}):
        open(spec["touch_on"][name], "w").close()
    if name in spec.get("stops", {}):
        sys.exit(spec["stops"][name])
for name in ("SIGHUP", "SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGSYS"):
    signal.signal(getattr(signal, name), signal.SIG_DFL if name in spec.get("default", ()) else got)
if spec.get("grandchild"):
    grandchild = spec["grandchild"]
    subprocess.Popen([grandchild.get("argv0", sys.executable), __file__, json.dumps(grandchild)], executable=sys.executable)
with open(spec["ready"] + ".part", "w") as ready:
    ready.write(str(os.getpid()))
os.rename(spec["ready"] + ".part", spec["ready"])
start = spec.get("on_start", {})
if "touch" in start:
    open(start["touch"], "w").close()
if "kill" in start:
    os.kill(os.getpid(), getattr(signal, start["kill"]))
if "exit" in start:
    sys.exit(start["exit"])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(99)
"""
#: Sent last to show that a child got nothing before it: Python runs the handlers of pending signals in the order of
#: their numbers, and SIGSYS has the highest of those the child logs.
SENTINEL = signal.SIGSYS
WAIT = 10.0


class Child:
    """One child's files: its spec, the signals it logged, its pid once it is ready."""

    def __init__(self, tmp_path: Path, name: str = "child", **spec) -> None:
        self.script = tmp_path / "child.py"
        self.script.write_text(CHILD)
        self.log_path = tmp_path / f"{name}.log"
        self.ready_path = tmp_path / f"{name}.ready"
        grandchild = spec.pop("grandchild", None)
        self.spec = {"log": str(self.log_path), "ready": str(self.ready_path), **spec}
        if grandchild is not None:
            self.spec["grandchild"] = grandchild.spec

    @property
    def argv(self) -> tuple[str, ...]:
        return (sys.executable, str(self.script), json.dumps(self.spec))

    def pid(self) -> int:
        return int(wait_for(lambda: self.ready_path.exists() and self.ready_path.read_text(), WAIT, f"{self.ready_path.name}"))

    def log(self) -> list[str]:
        return self.log_path.read_text().split() if self.log_path.exists() else []

    def wait_logged(self, name: str) -> list[str]:
        return wait_for(lambda: name in self.log() and self.log(), WAIT, f"{name} in {self.log_path.name}")

    def kill(self) -> None:
        if self.ready_path.exists():
            signal_group(int(self.ready_path.read_text()), signal.SIGKILL)


@pytest.fixture
def children():
    made: list[Child] = []
    yield made
    for child in made:
        child.kill()


def spawn(child: Child, tmp_path: Path):
    from warp.proc import spawn as spawn_process

    process = spawn_process(child.argv, env=dict(os.environ), cwd=tmp_path)
    child.pid()
    return process


def make_plan(tmp_path: Path, child: Child, stop: Stop | None = None, **changes):
    """What parent.run() reads of a StartPlan."""
    return SimpleNamespace(**{
        "argv": child.argv, "environ": dict(os.environ), "cwd": tmp_path, "host": "127.0.0.1", "port": free_port(), "server": "uwsgi",
        "mode": "wsgi", "stop": stop or Stop("signal", "SIGWINCH", timeout=WAIT, reload="SIGUSR1"), "failure_marker": None,
        "import_marker": None, **changes,
    })


def run_parent(plan, child: Child, then=lambda: None, **kwargs):
    """parent.run() with ``then`` run beside it once the child is ready; the code and what it reported."""
    reports: list[str] = []
    errors: list[BaseException] = []

    def act():
        try:
            child.pid()
            then()
        except BaseException as exc:  # noqa: BLE001 (a failure in the thread is shown by the test, not lost)
            errors.append(exc)

    helper = threading.Thread(target=act, daemon=True)
    helper.start()
    try:
        code = parent.run(plan, reports.append, **kwargs)
    finally:
        helper.join(WAIT)
    assert not errors, errors
    return code, reports


def to_warp(sig: int):
    os.kill(os.getpid(), sig)


# ---------------------------------------------------------------- run


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_reaches_the_server_as_its_graceful_stop(tmp_path, children, sig):
    child = Child(tmp_path, stops={"SIGWINCH": 0})
    children.append(child)
    code, reports = run_parent(make_plan(tmp_path, child), child, lambda: to_warp(sig))
    assert child.log() == ["SIGWINCH"]
    assert (code, reports) == (0, [])


def test_a_reload_reaches_the_server_as_its_reload(tmp_path, children):
    child = Child(tmp_path, stops={"SIGWINCH": 0})
    children.append(child)

    def reload_then_stop():
        to_warp(signal.SIGHUP)
        child.wait_logged("SIGUSR1")
        to_warp(signal.SIGTERM)

    code, _ = run_parent(make_plan(tmp_path, child), child, reload_then_stop)
    assert child.log() == ["SIGUSR1", "SIGWINCH"]
    assert code == 0


@pytest.mark.parametrize("stop_code", [3, 0])
def test_the_servers_exit_code_after_a_stop_is_warps(tmp_path, children, stop_code):
    child = Child(tmp_path, stops={"SIGWINCH": stop_code})
    children.append(child)
    code, _ = run_parent(make_plan(tmp_path, child), child, lambda: to_warp(signal.SIGTERM))
    assert code == stop_code


@pytest.mark.parametrize("on_start, code", [
    ({"exit": 0}, 0),
    ({"exit": 7}, 7),
    ({"kill": "SIGKILL"}, 128 + signal.SIGKILL),
    ({"kill": "SIGTERM"}, 128 + signal.SIGTERM),  # a SIGTERM warp did not send is no graceful stop
])
def test_a_server_that_ends_by_itself_gives_its_code_as_a_shell_shows_it(tmp_path, children, on_start, code):
    child = Child(tmp_path, on_start=on_start, default=["SIGTERM"])
    children.append(child)
    started = []
    assert run_parent(make_plan(tmp_path, child), child, started=lambda: started.append(1)) == (code, [])
    assert started == [1]


def test_a_server_that_dies_of_the_stop_it_was_sent_stopped_cleanly(tmp_path, children):
    child = Child(tmp_path, default=["SIGTERM"])
    children.append(child)
    plan = make_plan(tmp_path, child, Stop("signal", "SIGTERM", timeout=WAIT))
    assert run_parent(plan, child, lambda: to_warp(signal.SIGINT)) == (0, [])


def test_a_server_that_does_not_stop_in_time_is_killed(tmp_path, children):
    child = Child(tmp_path)  # logs the stop, and goes on
    children.append(child)
    plan = make_plan(tmp_path, child, Stop("signal", "SIGWINCH", timeout=0.2))
    code, reports = run_parent(plan, child, lambda: to_warp(signal.SIGTERM))
    assert child.log() == ["SIGWINCH"]
    assert code == 128 + signal.SIGKILL
    assert reports == ["warning: uwsgi did not stop within 0.2s; killing it"]


def test_a_second_ctrl_c_kills_the_server_without_waiting(tmp_path, children):
    child = Child(tmp_path)
    children.append(child)

    def twice():
        to_warp(signal.SIGINT)
        child.wait_logged("SIGWINCH")
        to_warp(signal.SIGINT)

    code, reports = run_parent(make_plan(tmp_path, child, Stop("signal", "SIGWINCH", timeout=WAIT)), child, twice)
    assert (code, reports) == (128 + signal.SIGKILL, [])  # no timeout passed


def test_a_server_that_cannot_import_the_app_is_stopped(tmp_path, children):
    marker = tmp_path / "import-failed-0"
    child = Child(tmp_path, stops={"SIGWINCH": 0}, on_start={"touch": str(marker)})
    children.append(child)
    code, _ = run_parent(make_plan(tmp_path, child, import_marker=marker), child)
    assert child.log() == ["SIGWINCH"]
    assert code == parent.APP_FAILED


def test_an_import_marker_of_an_earlier_start_is_removed_first(tmp_path, children):
    marker = tmp_path / "import-failed-0"
    marker.touch()
    child = Child(tmp_path, on_start={"exit": 0})
    children.append(child)
    assert run_parent(make_plan(tmp_path, child, import_marker=marker), child) == (0, [])
    assert not marker.exists()


def test_new_code_that_fails_to_import_after_a_reload_leaves_the_old_processes_serving(tmp_path, children):
    marker = tmp_path / "import-failed-0"
    child = Child(tmp_path, stops={"SIGUSR2": 0, "SIGWINCH": 0}, touch_on={"SIGUSR1": str(marker)})
    children.append(child)

    def reload_then_end():
        to_warp(signal.SIGHUP)
        child.wait_logged("SIGUSR1")
        wait_for(marker.exists, WAIT, "the import marker")
        time.sleep(0.2)  # a few of parent.run's rounds, any of which would stop it
        os.kill(child.pid(), signal.SIGUSR2)

    code, _ = run_parent(make_plan(tmp_path, child, import_marker=marker), child, reload_then_end)
    assert child.log() == ["SIGUSR1", "SIGUSR2"]
    assert code == 0


@pytest.mark.parametrize("exit_with, returncode", [(4, 4), (0, 1)])
def test_an_entry_point_that_exits_before_listening_is_an_error_that_says_why(tmp_path, children, exit_with, returncode):
    child = Child(tmp_path, on_start={"exit": exit_with})
    children.append(child)
    with pytest.raises(StepFailed) as caught:
        run_parent(make_plan(tmp_path, child, server=None, mode="python"), child, why_exited=lambda code: f"app.py exited (code {code})")
    assert caught.value.message == f"app.py exited (code {exit_with})"
    assert caught.value.hint == parent.EARLY_EXIT_HINT
    assert caught.value.returncode == returncode


def test_a_server_whose_startup_failed_is_an_error(tmp_path, children):
    marker = tmp_path / "startup-failed"
    marker.touch()  # one of an earlier start: removed first
    child = Child(tmp_path, on_start={"exit": 0})
    children.append(child)
    assert run_parent(make_plan(tmp_path, child, failure_marker=marker), child) == (0, [])

    child = Child(tmp_path, "failing", on_start={"touch": str(marker), "exit": 0})
    children.append(child)
    with pytest.raises(StepFailed) as caught:
        run_parent(make_plan(tmp_path, child, failure_marker=marker, server="uvicorn"), child)
    assert caught.value.message == "the application failed to start: uvicorn stopped (its lifespan startup failed)"
    assert caught.value.returncode == 3


def test_warps_own_signal_handlers_come_back(tmp_path, children):
    child = Child(tmp_path, on_start={"exit": 0})
    children.append(child)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    run_parent(make_plan(tmp_path, child), child)
    assert {sig: signal.getsignal(sig) for sig in before} == before


# ---------------------------------------------------------------- graceful_stop, reload, write_fifo


def server_with_worker(tmp_path, children, argv0=None):
    """A running child and a grandchild in its process group, both logging what they get."""
    worker = Child(tmp_path, "worker", **({"argv0": argv0} if argv0 else {}))
    main = Child(tmp_path, "main", grandchild=worker)
    children += [main, worker]
    spawn(main, tmp_path)
    worker.pid()
    return main, worker


def got_nothing_more(child: Child, logged: list[str]) -> bool:
    os.kill(child.pid(), SENTINEL)
    return child.wait_logged(SENTINEL.name) == logged + [SENTINEL.name]


def test_a_signal_stop_reaches_the_whole_group(tmp_path, children):
    main, worker = server_with_worker(tmp_path, children)
    parent.graceful_stop(Stop("signal", "SIGWINCH"), main.pid())
    assert main.wait_logged("SIGWINCH") == ["SIGWINCH"]
    assert worker.wait_logged("SIGWINCH") == ["SIGWINCH"]


def test_a_stop_for_the_main_process_only_does_not_reach_the_workers(tmp_path, children):
    main, worker = server_with_worker(tmp_path, children)
    parent.graceful_stop(Stop("signal", "SIGINT", group=False), main.pid())
    assert main.wait_logged("SIGINT") == ["SIGINT"]
    assert got_nothing_more(worker, [])


def test_a_stop_without_a_signal_named_is_sigterm(tmp_path, children):
    main, _ = server_with_worker(tmp_path, children)
    parent.graceful_stop(Stop("signal", group=False), main.pid())
    assert main.wait_logged("SIGTERM") == ["SIGTERM"]


def test_a_fifo_stop_writes_the_command_and_sends_no_signal(tmp_path, children):
    fifo = tmp_path / "master.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        main, _ = server_with_worker(tmp_path, children)
        parent.graceful_stop(Stop("fifo", path=fifo, command="q"), main.pid())
        assert os.read(reader, 100) == b"q"
    finally:
        os.close(reader)
    assert got_nothing_more(main, [])


@pytest.mark.parametrize("fifo_exists", [False, True], ids=["no-fifo", "no-reader"])
def test_a_fifo_stop_before_the_server_reads_its_fifo_is_a_sigint_to_the_group(tmp_path, children, fifo_exists):
    fifo = tmp_path / "master.fifo"
    if fifo_exists:
        os.mkfifo(fifo)
    main, worker = server_with_worker(tmp_path, children)
    parent.graceful_stop(Stop("fifo", path=fifo, command="q"), main.pid())
    assert main.wait_logged("SIGINT") == ["SIGINT"]
    assert worker.wait_logged("SIGINT") == ["SIGINT"]


def test_write_fifo_says_whether_the_command_was_written(tmp_path):
    fifo = tmp_path / "master.fifo"
    assert parent.write_fifo(fifo, "q") is False  # none yet
    os.mkfifo(fifo)
    assert parent.write_fifo(fifo, "q") is False  # no server reads it
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert parent.write_fifo(fifo, "r") is True
        assert os.read(reader, 100) == b"r"
    finally:
        os.close(reader)


def test_a_reload_goes_to_the_main_process(tmp_path, children):
    main, worker = server_with_worker(tmp_path, children)
    parent.reload(Stop("signal", "SIGWINCH", reload="SIGUSR1"), main.pid())
    assert main.wait_logged("SIGUSR1") == ["SIGUSR1"]
    assert got_nothing_more(worker, [])


def test_a_reload_of_a_stop_that_names_no_reload_is_sighup(tmp_path, children):
    main, _ = server_with_worker(tmp_path, children)
    parent.reload(Stop("signal", "SIGWINCH"), main.pid())
    assert main.wait_logged("SIGHUP") == ["SIGHUP"]


def test_a_reload_for_named_processes_goes_to_them_alone(tmp_path, children):
    main, worker = server_with_worker(tmp_path, children, argv0="(wsgi:blog)")
    parent.reload(Stop("signal", "SIGWINCH", reload="SIGUSR1", reload_processes="(wsgi:"), main.pid())
    assert worker.wait_logged("SIGUSR1") == ["SIGUSR1"]
    assert got_nothing_more(main, [])


@pytest.mark.parametrize("code, shown", [(0, 0), (3, 3), (-signal.SIGKILL, 137), (-signal.SIGTERM, 143), (-signal.SIGINT, 130)])
def test_exit_code_is_as_a_shell_shows_it(code, shown):
    assert parent.exit_code(code) == shown


def test_what_the_server_leaves_of_its_group_is_killed(tmp_path, children):
    worker = Child(tmp_path, "worker")  # logs the stop, and goes on
    main = Child(tmp_path, "main", stops={"SIGWINCH": 0}, grandchild=worker)
    children += [main, worker]
    code, _ = run_parent(make_plan(tmp_path, main), main, lambda: (worker.pid(), to_warp(signal.SIGTERM)))
    assert code == 0
    wait_for(lambda: not is_running(worker.pid()), WAIT, "the worker to end")

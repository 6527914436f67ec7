"""Interruption and concurrency: a killed build records no success, builds of one env never interleave,
and `warp start` waits for a build that is running.

The build hook is the clock: a hook that writes a line and then sleeps lets a
test act at a known moment of a real build, with real signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import RunningWarp, BuiltApp, free_port, warp, warp_environ
from warp.proc import find_descendants

pytestmark = pytest.mark.e2e

#: Sleeps while .warp/slow exists, after logging "start" and before logging "end" (with its pid).
SLOW_HOOK = """#!/bin/sh
echo "start $$" >> "$WARP_SRC_ROOT/hook.log"
if [ -f "$WARP_SRC_ROOT/.warp/slow" ]; then sleep "$(cat "$WARP_SRC_ROOT/.warp/slow")"; fi
echo "end $$" >> "$WARP_SRC_ROOT/hook.log"
"""
WSGI = "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'served']\n"


def make_project(tmp_path: Path, requirements: str = "") -> tuple[Path, Path]:
    project = tmp_path / "project"
    hooks = project / ".warp" / "action_hooks"
    hooks.mkdir(parents=True)
    (hooks / "build").write_text(SLOW_HOOK)
    (hooks / "build").chmod(0o755)
    (project / "requirements.txt").write_text(requirements)
    (project / "wsgi.py").write_text(WSGI)
    return project, tmp_path / "home"


def record(home: Path) -> dict:
    path = home / "envs" / "project" / ".warp" / "build.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def spawn_warp(project: Path, home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "warp", *args], cwd=project, env=warp_environ(home), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=as_a_shell_starts_it,
    )


def as_a_shell_starts_it() -> None:
    """In the child: SIGINT as a shell leaves it to a foreground command, neither ignored nor blocked, whatever
    the test's process inherited or set."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def signal_state(pid: int) -> str:
    """The SigBlk and SigIgn lines of ``pid``, for a failure's message."""
    try:
        return " ".join(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(("SigBlk", "SigIgn")))
    except OSError:
        return "(gone)"


def wait_for_line(path: Path, count: int, timeout: float = 120) -> None:
    """Until ``path`` has ``count`` lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {count} lines")


def wait_for_sleep(pid: int, timeout: float = 60) -> None:
    """Until a `sleep` runs below ``pid`` (the slow hook has reached its sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in find_descendants(pid):
            try:
                if Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0] == b"sleep":
                    return
            except OSError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no sleep below process {pid} within {timeout}s")


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_interrupted_build_records_no_success_and_the_next_build_completes(tmp_path, how):
    project, home = make_project(tmp_path)
    warp("build", cwd=project, home=home)
    assert record(home)["state"] == "ok"
    # A new requirement, and a build that is stopped while its hook runs (after the install).
    (project / "requirements.txt").write_text("six\n")
    (project / ".warp" / "slow").write_text("60")
    (project / "hook.log").unlink()
    build = spawn_warp(project, home, "build")
    try:
        wait_for_line(project / "hook.log", 1)
        wait_for_sleep(build.pid)  # the hook's shell can miss a SIGINT between two commands
        state = signal_state(build.pid)
        if how == "ctrl-c":
            os.killpg(build.pid, signal.SIGINT)  # what the terminal sends to the foreground group
        else:
            os.kill(build.pid, signal.SIGKILL)  # the OOM killer, or a CI runner's timeout
        try:
            _, err = build.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the build went on after {how}; warp's signals when interrupted: {state}") from None
    finally:
        kill_group(build)
    if how == "ctrl-c":
        assert build.returncode == 130, f"{err}\nwarp's signals when interrupted: {state}"
        assert "error: interrupted" in err.splitlines()
        assert "Traceback" not in err
    else:
        assert build.returncode == -signal.SIGKILL
    assert record(home).get("state") != "ok"
    assert record(home).get("fingerprint") is None

    (project / ".warp" / "slow").unlink()
    again = warp("build", "--no-wait", cwd=project, home=home)  # the lock died with the interrupted build
    assert " -----> Installing dependencies with uv (requirements.txt)" in again.stderr  # not "unchanged"
    assert " -----> Build of env project finished" in again.stderr
    assert record(home)["state"] == "ok"
    assert warp("exec", "python", "-c", "import six", cwd=project, home=home).returncode == 0


def start_slow_rebuild(tmp_path: Path, seconds: int) -> tuple[Path, Path, Path, subprocess.Popen]:
    """A built project, then a second build whose hook sleeps ``seconds``: (project, home, hook log, the build)."""
    project, home = make_project(tmp_path)
    warp("build", cwd=project, home=home)
    log = project / "hook.log"
    log.unlink()
    (project / ".warp" / "slow").write_text(str(seconds))
    return project, home, log, spawn_warp(project, home, "build")


def test_two_builds_of_one_env_never_interleave(tmp_path):
    project, home, log, first = start_slow_rebuild(tmp_path, 3)
    try:
        wait_for_line(log, 1)
        refused = warp("build", "--no-wait", cwd=project, home=home, check=False)
        second = spawn_warp(project, home, "build")
        _, second_err = second.communicate(timeout=120)
        _, first_err = first.communicate(timeout=120)
    finally:
        kill_group(first)
    assert refused.returncode == 1
    assert "error: another build of env 'project' is running" in refused.stderr.splitlines()
    assert "       wait for it, or drop --no-wait to queue" in refused.stderr.splitlines()
    assert first.returncode == 0 and second.returncode == 0, first_err + second_err
    assert " -----> Waiting for another build of env project to finish" in second_err.splitlines()
    events = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in events] == ["start", "end", "start", "end"]  # one hook ends before the next starts
    assert events[0][1] == events[1][1] and events[2][1] == events[3][1]
    assert record(home)["state"] == "ok"


def test_start_waits_for_a_running_build(tmp_path):
    project, home, log, build = start_slow_rebuild(tmp_path, 3)
    running = None
    try:
        wait_for_line(log, 1)
        running = RunningWarp(BuiltApp("project", project, home), [], free_port())
        running.wait_ready("/", timeout=120)
        # the server answered, so the build (and its hook) had finished first
        assert log.read_text().split()[::2] == ["start", "end"]
        assert build.wait(timeout=60) == 0
        assert running.get("/") == (200, "served")
        assert " -----> Waiting for the build of env project to finish" in running.output().splitlines()
        assert running.stop() == 0
    finally:
        kill_group(build)
        if running:
            running.close()


def test_a_build_killed_while_creating_the_env_is_taken_up_by_the_next(tmp_path):
    project, home = make_project(tmp_path)
    marker = home / "envs" / "project" / ".warp" / "creating"
    build = spawn_warp(project, home, "build")
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        os.killpg(build.pid, signal.SIGKILL)  # warp and the installer creating the virtualenv
        build.wait(timeout=30)
    finally:
        kill_group(build)
    assert marker.exists() and not (marker.parent / "env.json").exists()

    again = warp("build", cwd=project, home=home)
    assert f" -----> Created env project for {project}" in again.stderr  # the same name, not project-2
    assert sorted(p.name for p in (home / "envs").iterdir()) == ["project"]
    assert not marker.exists()
    assert record(home)["state"] == "ok"

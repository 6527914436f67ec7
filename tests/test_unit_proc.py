"""warp.proc's helpers: reading a hook's answer, explaining a command that cannot start, probing, spawning."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warp.errors import DISK_FULL_HINT, make_disk_full
from warp.proc import cannot_start, find_json_answer, is_disk_full, is_running, is_unreachable, make_step_failed, run_probe, spawn


@pytest.mark.parametrize(
    "stdout, answer",
    [
        ('{"ok": true}\n', {"ok": True}),
        ('app says hello\n{"ok": true}\n', {"ok": True}),
        ('{"ok": true}\nprinted by the app at exit\n', {"ok": True}),
        ("[1, 2]\n", None),
        ("", None),
    ],
)
def test_find_json_answer_skips_what_the_app_prints(stdout, answer):
    assert find_json_answer(stdout) == answer


@pytest.mark.parametrize(
    "exc, message, hint",
    [
        (FileNotFoundError(errno.ENOENT, "No such file"), "step: command not found: /x/hook", "install it"),
        (OSError(errno.ENOEXEC, "Exec format error"), "step: cannot execute /x/hook: it is not a program", "start the script with a #! line, e.g. #!/bin/sh"),
        (PermissionError(errno.EACCES, "Permission denied"), "step: cannot execute /x/hook", "make it executable (chmod +x)"),
        (OSError(errno.E2BIG, "Argument list too long"), "step: cannot run /x/hook (Argument list too long)", "check the command and its interpreter"),
    ],
)
def test_cannot_start_says_why(exc, message, hint):
    error = cannot_start(exc, ["/x/hook"], "step: ", "install it")
    assert (error.message, error.hint) == (message, hint)


@pytest.mark.parametrize(
    "output, unreachable",
    [
        ("error: Failed to fetch ...\n  cause: Connection refused (os error 111)", True),
        ("WARNING: Retrying ... NewConnectionError: Failed to establish a new connection: [Errno 111]", True),
        ("Temporary failure in name resolution", True),
        ("No solution found when resolving dependencies: Because nosuch was not found in the package registry", False),
    ],
)
def test_is_unreachable_tells_network_failures_from_missing_packages(output, unreachable):
    assert is_unreachable(output) == unreachable


@pytest.mark.parametrize(
    "output, full",
    [
        ("cause: failed to copy file from /a to /b: No space left on device (os error 28)", True),  # uv
        ("ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device", True),  # pip
        ("OSError: [Errno 122] Disk quota exceeded", True),
        ("No solution found when resolving dependencies", False),
    ],
)
def test_a_step_that_ran_out_of_space_says_the_disk_is_full(output, full):
    error = make_step_failed("Installing six", 2, output, "fix the requirement", detail=output)
    assert is_disk_full(output) == full
    expected = ("Installing six failed: the disk is full", DISK_FULL_HINT) if full else ("Installing six failed (exit code 2)", "fix the requirement")
    assert (error.message, error.hint, error.detail, error.returncode) == (*expected, output, 2)


@pytest.mark.parametrize(
    "exc, writing, message",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "/e/.warp/build.json", "the disk is full: cannot write /e/.warp/build.json"),
        (OSError(errno.ENOSPC, "No space left on device", "/e/.warp/build.lock"), None, "the disk is full: cannot write /e/.warp/build.lock"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), None, "the disk quota is used up (Disk quota exceeded)"),
        (OSError(errno.EACCES, "Permission denied"), "/e/x", None),
    ],
)
def test_a_full_disk_met_by_warps_own_writes_is_said_so(exc, writing, message):
    error = make_disk_full(exc, writing)
    assert (error and error.message) == message
    assert error is None or error.hint == DISK_FULL_HINT


def test_spawn_gives_the_server_its_own_group_in_warps_session(tmp_path):
    """Its own group, so warp's stop reaches all of it; warp's session, so on Linux it is not a scheduling autogroup
    of its own (which would give all its processes together one share of the CPUs)."""
    child = spawn([sys.executable, "-c", "import time; time.sleep(30)"], env=dict(os.environ), cwd=Path(tmp_path))
    try:
        assert os.getpgid(child.pid) == child.pid
        assert os.getsid(child.pid) == os.getsid(0)
    finally:
        child.kill()
        child.wait()


def test_a_spawned_server_is_stopped_when_warp_dies():
    """PR_SET_PDEATHSIG: a warp killed without a chance to stop its server leaves no server behind."""
    code = (
        "import os; from pathlib import Path; from warp.proc import spawn\n"
        "child = spawn(['sleep', '30'], env=dict(os.environ), cwd=Path('.'))\n"
        "print(child.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    warp = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    with warp.stdout:  # the server holds this pipe too: read its pid, not to the end
        pid = int(warp.stdout.readline())
    assert warp.wait(timeout=10) == 0
    deadline = time.monotonic() + 10
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = is_running(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive


@pytest.mark.parametrize(
    "argv, output",
    [
        ([sys.executable, "-c", "print('3.12.1')"], "3.12.1\n"),
        ([sys.executable, "-c", "print('3.12.1'); raise SystemExit(3)"], None),
        (["/nonexistent/python3"], None),
        ([sys.executable, "-c", "import time; time.sleep(5)"], None),
    ],
    ids=["answers", "exits-non-zero", "missing", "hangs"],
)
def test_run_probe_answers_or_says_nothing(argv, output):
    assert run_probe(argv, timeout=1) == output

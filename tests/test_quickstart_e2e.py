"""A `warp start` that finds everything as the last one left it replays that start (warp.quickstart)."""

from __future__ import annotations

import fcntl
import marshal
import re
import stat
import time

import pytest

from conftest import RunningWarp, build_app, free_port, server_param, warp
from warp.proc import find_descendants

pytestmark = pytest.mark.e2e

#: Each import prints a line, warp's before its " -----> Starting" line; the app's (Flask imports click) after it.
IMPORT_TIMES = {"PYTHONPROFILEIMPORTTIME": "1"}


def start(app, port: int, *args: str, env: dict | None = None, server: str = "gunicorn") -> RunningWarp:
    running = RunningWarp(app, ["--server", server, *args], port, {**IMPORT_TIMES, **(env or {})})
    running.wait_ready("/")
    return running


#: The first line each server writes: what comes before is warp's (a replayed uWSGI start imports its supervisor
#: after its " -----> Starting" line).
SERVERS_FIRST = re.compile(r"\[INFO\] Starting gunicorn|\*\*\* Starting uWSGI|\[mpm_\w+:notice\]")


def warps_imports(running: RunningWarp) -> str:
    """What warp itself imported: the import lines before the server's first line."""
    output = running.output()
    first = SERVERS_FIRST.search(output)
    assert " -----> Starting " in output and first, output
    return output[: first.start()]


#: What a replay has no need of: the standard library's heavier modules (dataclasses pulls in inspect and ast).
#: json (and re) it imports only to read the env metadata written since the record: these tests share a WARP_HOME.
HEAVY = ("dataclasses", "typing", "pathlib", "socket", "subprocess", "click", "warp.plan")


def replays_imports(running: RunningWarp) -> str:
    """What warp imported, from the warp package (after the interpreter's start-up and its .pth files) to its
    " -----> Starting" line: all of a replay's own work is done by then."""
    output = running.output()
    return output[re.search(r"^import time: .*\|\s+warp$", output, re.MULTILINE).start(): output.index(" -----> Starting ")]


def imported(module: str, lines: str) -> bool:
    return re.search(rf"^import time: .*\|\s+{re.escape(module)}$", lines, re.MULTILINE) is not None


def said(running: RunningWarp) -> list[str]:
    return [line for line in running.output().splitlines() if line.startswith((" ----->", "warning:", "error:"))]


def command_line(running: RunningWarp, server: str = "gunicorn") -> list[str]:
    """The server's command: warp's own process, which execs gunicorn, or the child warp supervises (uWSGI)."""
    pid = running.proc.pid
    if server != "gunicorn":
        pid = next(child for child in find_descendants(pid) if parent_of(child) == running.proc.pid)
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().decode().split("\0")[:-1]


def recorded(app, port: int):
    """The record of the last start on ``port``."""
    return next(path for path in (app.home / "starts").iterdir() if marshal.loads(path.read_bytes())["port"] == port)


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rpartition(")")[2].split()[1])
    except OSError:
        return None


@pytest.mark.parametrize("server", ["gunicorn", server_param("uwsgi"), server_param("mod_wsgi")])
def test_a_start_with_nothing_changed_is_replayed_without_planning_and_does_what_the_full_start_did(server):
    app = build_app("flask_wsgi", server, copy_as=f"replayed_start_{server}")
    (app.src / ".warp").mkdir(exist_ok=True)
    (app.src / ".warp" / "environment").write_text("REPLAY_SECRET=s3cret-token\n")
    port = free_port()
    first = start(app, port, server=server)
    assert imported("click", warps_imports(first)) and imported("warp.plan", warps_imports(first))
    full = (said(first), command_line(first, server), first.get("/env/REPLAY_SECRET"), first.get("/env/VIRTUAL_ENV"))
    assert first.stop() == 0
    record = recorded(app, port)
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert b"s3cret-token" not in record.read_bytes()  # read again from .warp/environment, never copied

    second = start(app, port, server=server)
    imports = warps_imports(second)
    assert not imported("click", imports) and not imported("warp.plan", imports) and imported("warp.quickstart", imports), imports
    assert [module for module in HEAVY if imported(module, replays_imports(second))] == []
    assert (said(second), command_line(second, server), second.get("/env/REPLAY_SECRET"), second.get("/env/VIRTUAL_ENV")) == full
    assert full[2] == (200, "s3cret-token")

    again = warp("start", "--host", "127.0.0.1", "--port", str(port), "--server", server, cwd=app.src, home=app.home,
                 env=IMPORT_TIMES, check=False)  # the same start while the replayed one runs: the port is claimed
    assert again.returncode == 2 and f"error: port {port} is already in use by another `warp start`" in again.stderr, again.stderr
    assert second.get("/")[0] == 200
    assert second.stop() == 0


CHANGES = {
    # what changes between two starts -> what the second start's command must show
    "a setting in pyproject.toml": (lambda app: app.src.joinpath("pyproject.toml").write_text("[tool.warp]\nthreads = 3\n"), {}),
    "the environment": (lambda app: None, {"WARP_THREADS": "3"}),
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_next_start_sees_a_change_to_what_the_last_one_read(change):
    app = build_app("flask_wsgi", "gunicorn", copy_as="replay_" + re.sub(r"\W+", "_", change))
    port = free_port()
    first = start(app, port)
    assert command_line(first)[command_line(first).index("--threads") + 1] != "3"
    assert first.stop() == 0
    edit, env = CHANGES[change]
    edit(app)
    second = start(app, port, env=env)
    assert command_line(second)[command_line(second).index("--threads") + 1] == "3", second.output()
    assert imported("warp.plan", warps_imports(second))
    assert second.stop() == 0
    third = start(app, port, env=env)  # and that start is replayed in its turn
    assert command_line(third)[command_line(third).index("--threads") + 1] == "3"
    assert not imported("warp.plan", warps_imports(third))
    assert third.stop() == 0


def test_a_generated_file_that_changed_is_written_again_by_a_full_start():
    app = build_app("script", "gunicorn", copy_as="replay_generated")  # a script target: gunicorn runs warp's module
    port = free_port()
    first = start(app, port, "--app", "hello.wsgi")
    assert first.stop() == 0
    assert recorded(app, port)
    generated = app.home / "envs" / app.name / ".warp" / "run" / "warp_wsgi.py"
    written = generated.read_text()
    generated.write_text("raise SystemExit('not the module warp wrote')\n")
    second = start(app, port, "--app", "hello.wsgi")
    status, page = second.get("/")
    assert status == 200 and "hello from a script file" in page, second.output()
    assert imported("warp.plan", warps_imports(second))
    assert generated.read_text() == written
    assert second.stop() == 0


def test_a_start_during_a_build_waits_for_it_as_a_full_start_does():
    app = build_app("flask_wsgi", "gunicorn", copy_as="replay_during_build")
    port = free_port()
    first = start(app, port)
    assert first.stop() == 0
    assert recorded(app, port)
    lock = app.home / "envs" / app.name / ".warp" / "build.lock"
    with open(lock) as building:
        fcntl.flock(building, fcntl.LOCK_EX)  # as `warp build` holds it
        waiting = RunningWarp(app, ["--server", "gunicorn"], port, IMPORT_TIMES)
        try:
            deadline = time.monotonic() + 30
            while "Waiting for the build" not in waiting.output() and time.monotonic() < deadline and waiting.proc.poll() is None:
                time.sleep(0.05)
            assert f" -----> Waiting for the build of env {app.name} to finish" in waiting.output(), waiting.output()
            assert not waiting.is_listening()
            fcntl.flock(building, fcntl.LOCK_UN)
            waiting.wait_ready("/")
            assert waiting.stop() == 0
        finally:
            waiting.close()


def test_a_file_made_executable_is_seen_by_the_next_start():
    """The entry point depends on app.sh's execute bit, which a chmod changes without its size or mtime."""
    app = build_app("flask_wsgi", "gunicorn", copy_as="replay_chmod")
    script = app.src / "app.sh"
    script.write_text('#!/bin/sh\nexec python -m http.server --bind 127.0.0.1 "$PORT"\n')
    script.chmod(0o644)
    port = free_port()
    first = RunningWarp(app, [], port, IMPORT_TIMES)
    try:
        first.wait_ready("/")
        assert " -----> Starting gunicorn" in first.output()
        assert first.stop() == 0
    finally:
        first.close()
    assert recorded(app, port)
    script.chmod(0o755)
    second = RunningWarp(app, [], port, IMPORT_TIMES)
    try:
        second.wait_ready("/")
        assert " -----> Starting shell" in second.output(), second.output()
        assert second.stop() == 0
    finally:
        second.close()

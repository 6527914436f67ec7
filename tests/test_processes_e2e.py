"""The app's processes end to end: a Django site whose view enqueues a Celery task through Redis, a worker that
runs it and beat that runs a periodic one, all from one Procfile, under `warp start all` and `warp release`.

Redis is Debian's redis-server, started by each test on a free loopback port and stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SHARED, build_app, free_port, http_get, warp, warp_environ
from warp.proc import find_descendants, is_running

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("redis-server") is None,
                                                  reason="redis-server is not installed (Debian: redis-server; see .ci/install-system-deps)")]


@pytest.fixture
def redis(tmp_path):
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() != "PONG":
        assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def jobs(tmp_path):
    path = tmp_path / "jobs"
    path.mkdir()
    return path


def wait_for(predicate, timeout: float, what: str, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout}s\n{log()}")


class StartAll:
    """`warp start all` (or named types) as a real child process, its output in a file."""

    def __init__(self, app, port: int, environ: dict, *types: str, args: tuple[str, ...] = ()) -> None:
        self.port = port
        self.log_path = SHARED / "logs" / f"{app.name}-all-{port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "warp", "start", *(types or ("all",)), "--host", "127.0.0.1", "--port", str(port), *args],
                cwd=app.src, env={**warp_environ(app.home), **environ}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, str]:
        return http_get(f"http://127.0.0.1:{self.port}{path}", timeout=30)

    def wait_serving(self) -> None:
        def serving():
            assert self.proc.poll() is None, f"warp start all exited {self.proc.returncode}\n{self.output()}"
            try:
                return self.get("/result/none")[0] == 200
            except OSError:
                return False
        wait_for(serving, 90, "no answer from web", self.output)

    def tree(self) -> set[int]:
        return find_descendants(self.proc.pid) | {self.proc.pid}

    def close(self) -> None:
        if self.proc.poll() is None:
            for pid in self.tree():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()


@pytest.fixture
def start_all():
    started = []

    def start(*args, **kwargs) -> StartAll:
        running = StartAll(*args, **kwargs)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


def find_child(parent: int, word: str) -> int:
    """The child of ``parent`` that has ``word`` among the words of its command line."""
    found = [pid for pid in find_descendants(parent)
             if int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == parent
             and word.encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    assert len(found) == 1, (word, found)
    return found[0]


@pytest.mark.slow
def test_start_all_serves_the_page_the_worker_runs_the_task_beat_ticks_and_sigterm_stops_all_three_gracefully(redis, jobs, start_all):
    app = build_app("django_celery", "gunicorn")
    running = start_all(app, free_port(), {"REDIS_URL": redis, "JOBS_DIR": str(jobs)}, args=("--graceful-timeout", "20"))
    running.wait_serving()

    # The view enqueues through Redis; the worker runs the task with the app's environment (.warp/environment's GREETING).
    status, task_id = running.get("/enqueue?x=2&y=3")
    assert status == 200, task_id
    wait_for(lambda: running.get(f"/result/{task_id}")[1] == "SUCCESS 5 from-warp-environment", 60, "no result", running.output)
    # beat sends the periodic task every second; the worker runs it.
    wait_for(lambda: (jobs / "ticks").exists() and len((jobs / "ticks").read_text().splitlines()) >= 2, 30, "beat's task did not run",
             running.output)

    out = running.output()
    for name in ("web.1", "worker.1", "beat.1"):
        assert f"\n{name} " in out, name  # one stream, each line after its process's name (no colours: not a terminal)
    assert "\x1b[" not in out
    tree = running.tree()

    # A task in progress when SIGTERM comes finishes: Celery's warm shutdown, every process stopped gracefully.
    status, slow_id = running.get("/enqueue?x=4&y=5&delay=3")
    wait_for(lambda: (jobs / "started-4-5").exists(), 30, "the slow task did not start", running.output)
    stopped_at = time.monotonic()
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=40) == 0, running.output()
    assert time.monotonic() - stopped_at < 20
    assert (jobs / "done-4-5").read_text() == "9"
    out = running.output()
    assert "SIGTERM: stopping every process (graceful timeout 20s)" in out
    assert "worker: Warm shutdown" in out
    assert "Task jobs.tasks.add[" + slow_id + "] succeeded" in out
    for name in ("web.1", "worker.1", "beat.1"):
        assert f"warp     | {name} stopped (code 0)" in out, out
    assert "did not stop" not in out
    assert not [pid for pid in tree if is_running(pid)]


@pytest.mark.slow
def test_a_killed_worker_ends_start_all_with_its_exit_code(redis, jobs, start_all):
    app = build_app("django_celery", "gunicorn")
    running = start_all(app, free_port(), {"REDIS_URL": redis, "JOBS_DIR": str(jobs)})
    running.wait_serving()
    wait_for(lambda: "celery@" in running.output() and " ready." in running.output(), 60, "the worker is not ready", running.output)
    tree = running.tree()
    worker = find_child(running.proc.pid, "worker")
    os.kill(worker, signal.SIGKILL)
    assert running.proc.wait(timeout=60) == 128 + signal.SIGKILL, running.output()
    assert "worker.1 exited with code 137; stopping the others" in running.output()
    assert not [pid for pid in tree if is_running(pid)]


@pytest.mark.slow
def test_named_types_run_alone_and_one_type_is_execd(redis, jobs, start_all):
    """`warp start worker beat` runs those two and no web; `warp start beat` is beat itself, in the app's environment."""
    app = build_app("django_celery", "gunicorn")
    port = free_port()
    running = start_all(app, port, {"REDIS_URL": redis, "JOBS_DIR": str(jobs)}, "worker", "beat")
    wait_for(lambda: (jobs / "ticks").exists(), 60, "beat's task did not run", running.output)
    with pytest.raises(OSError):
        running.get("/")
    assert "web.1" not in running.output()
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=40) == 0, running.output()

    alone = start_all(app, port, {"REDIS_URL": redis, "JOBS_DIR": str(jobs)}, "beat")
    wait_for(lambda: "beat: Starting" in alone.output(), 60, "beat did not start", alone.output)
    # warp exec'd `sh -c 'exec celery … beat'`: the process started is beat itself, so the platform's SIGTERM reaches it.
    assert b"beat" in Path(f"/proc/{alone.proc.pid}/cmdline").read_bytes()
    assert "| " not in alone.output()
    alone.proc.send_signal(signal.SIGTERM)
    assert alone.proc.wait(timeout=40) == 0, alone.output()


@pytest.mark.slow
def test_release_migrates_once_while_a_second_waits(tmp_path):
    app = build_app("django_celery", "gunicorn", copy_as="django_celery_release")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    environ = {**warp_environ(app.home), "JOBS_DIR": str(jobs)}
    logs = [open(tmp_path / f"release-{n}.log", "w") for n in (1, 2)]
    first = subprocess.Popen([sys.executable, "-m", "warp", "release"], cwd=app.src, env=environ, stdout=logs[0], stderr=subprocess.STDOUT)
    wait_for(lambda: (jobs / "migrated").exists(), 120, "the first release did not reach the migration",
             lambda: (tmp_path / "release-1.log").read_text())
    second = subprocess.Popen([sys.executable, "-m", "warp", "release"], cwd=app.src, env=environ, stdout=logs[1], stderr=subprocess.STDOUT)
    assert first.wait(timeout=120) == 0, (tmp_path / "release-1.log").read_text()
    assert second.wait(timeout=120) == 0, (tmp_path / "release-2.log").read_text()
    one, two = ((tmp_path / f"release-{n}.log").read_text() for n in (1, 2))
    assert " -----> Release: python manage.py migrate --noinput (Procfile line 4)" in one
    assert "Applying jobs.0001_slow... OK" in one
    assert f" -----> Waiting for another `warp release` of env {app.name} to finish" in two
    assert "No migrations to apply." in two
    # The slow migration ran once, from start to end, never beside another run of itself.
    lines = (jobs / "migrated").read_text().splitlines()
    assert len(lines) == 2 and lines[0].endswith(" start") and lines[1].endswith(" end"), lines


def test_bad_declarations_stop_before_anything_starts(tmp_path):
    """Each an `error:` naming the line or the name and what is allowed, exit 2, no traceback, nothing started."""
    app = build_app("django_celery", "gunicorn", copy_as="django_celery_bad")
    src, home, environ = app.src, app.home, {"WARP_ENV_NAME": app.name}
    cases = [
        ("web: warp start\nworker:\n", ("start", "all"), "error: Procfile line 2: process type 'worker' has no command"),
        ("worker: celery -A mysite worker\nworker: celery -A mysite beat\n", ("plan",),
         "error: Procfile line 2: process type 'worker' is declared again (first on line 1)"),
        ("clock.1: python clock.py\n", ("release",), "error: Procfile line 1: 'clock.1' is not a process type name (letters, digits, _ and - only)"),
        ("worker: celery -A mysite worker\n", ("start", "all", "-c", "worker=x"), "error: --concurrency worker: count 'x' is not a whole number"),
        ("worker: celery -A mysite worker\n", ("start", "wrker"), "error: no process type 'wrker'"),
        ("worker: rqworker high\n", ("start", "all"), "error: worker: command 'rqworker' is not installed in env"),
    ]
    for procfile, args, message in cases:
        (src / "Procfile").write_text(procfile)
        result = warp(*args, cwd=src, home=home, check=False, env=environ, timeout=120)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.returncode == (1 if "not installed" in message else 2), result.stderr
        assert "Starting" not in result.stderr
    assert "the types are: web, worker (or `all`)" in warp("start", "wrker", cwd=src, home=home, check=False, env=environ).stderr


def test_plan_lists_each_type_with_its_command_and_origin():
    app = build_app("django_celery", "gunicorn")
    out = warp("plan", cwd=app.src, home=app.home, env={"WARP_ENV_NAME": app.name}).stdout
    assert "command: " in out  # warp's own plan for web, as before
    lines = out[out.index("processes (declared in Procfile):"):].splitlines()
    assert lines[2].split()[:4] == ["web", "1", "warp", "start"]
    assert "from warp's own plan (no web in Procfile)" in lines[2]
    assert lines[3].split()[:3] == ["worker", "1", "celery"] and lines[3].endswith("run as written; from Procfile line 2")
    assert lines[4].split()[:3] == ["beat", "1", "celery"] and lines[4].endswith("run as written; from Procfile line 3")
    assert lines[5].split()[:3] == ["release", "once", "python"] and lines[5].endswith("once, by `warp release`, under a lock; from Procfile line 4")
    assert "`warp start all` runs: web, worker, beat" in out and "`warp release` runs: release" in out

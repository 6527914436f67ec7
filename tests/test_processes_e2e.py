"""The app's processes end to end: a Django site whose view enqueues a Celery task through Redis, a worker that
runs it and beat that runs a periodic one, all from one Procfile, under `warp start all` and `warp release`.

Redis is Debian's redis-server, started by each test on a free loopback port and stopped by its PID.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CELERY_FILES, SHARED, build_app, free_port, http_get, warp, warp_environ
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


def answer_on(port: int, path: str):
    """(status, body) of a GET on the loopback port, or None while nothing answers there."""
    try:
        return http_get(f"http://127.0.0.1:{port}{path}", timeout=10)
    except OSError:
        return None


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
    took = time.monotonic() - stopped_at
    assert took < 20
    print(f"\nwarp start all: SIGTERM with a 3 s task in progress to every process gone: {took:.1f}s")
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
    (app.src / "db.sqlite3").unlink(missing_ok=True)  # this copy's own: every run migrates
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
    assert lines[2].endswith("warp's own plan (above); no web in Procfile")
    assert lines[3].split()[:3] == ["worker", "1", "celery"] and lines[3].endswith("run as written; from Procfile line 2")
    assert lines[4].split()[:3] == ["beat", "1", "celery"] and lines[4].endswith("run as written; from Procfile line 3")
    assert lines[5].split()[:3] == ["release", "once", "python"] and lines[5].endswith("once, by `warp release`, under a lock; from Procfile line 4")
    assert "`warp start all` runs: web, worker, beat" in out and "`warp release` runs: release" in out


# ---------------------------------------------------------------- the exports, read by their consumers

BIN = Path(sys.executable).parent


def export(app, target: str, out: Path, *args: str) -> list[Path]:
    result = warp("export", target, "--out", str(out), *args, cwd=app.src, home=app.home, env={"WARP_ENV_NAME": app.name})
    return [Path(line) for line in result.stdout.split()]


@pytest.mark.slow
def test_supervisord_runs_every_process_type_from_the_export(redis, jobs, tmp_path):
    """The exported group under a real supervisord: the release step migrates, web serves, two workers and beat run,
    and stopping the group lets the task in progress finish."""
    app = build_app("django_celery", "gunicorn", copy_as="django_celery_supervisor")
    (app.src / "db.sqlite3").unlink(missing_ok=True)  # this copy's own: every run migrates
    port = free_port()
    (conf_file,) = export(app, "supervisor", tmp_path, "--host", "127.0.0.1", "--port", str(port), "--graceful-timeout", "20",
                          "-c", "worker=2")
    name = app.name
    group = f"{name}-processes"
    logs = tmp_path / "logs"
    logs.mkdir()
    conf = tmp_path / "supervisord.conf"
    sock = tmp_path / "supervisor.sock"
    conf.write_text(
        f"[unix_http_server]\nfile={sock}\n\n"
        f"[supervisord]\nnodaemon=true\nlogfile={tmp_path / 'supervisord.log'}\npidfile={tmp_path / 'supervisord.pid'}\nchildlogdir={logs}\n\n"
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"[supervisorctl]\nserverurl=unix://{sock}\n\n[include]\nfiles = {conf_file}\n"
    )
    # Nothing of warp's in supervisord's environment: each program's own environment= finds the env.
    environ = {key: value for key, value in warp_environ(app.home).items() if not key.startswith("WARP_")}
    environ.update({"REDIS_URL": redis, "JOBS_DIR": str(jobs)})
    supervisord = subprocess.Popen([BIN / "supervisord", "-c", str(conf)], env=environ, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctl = [BIN / "supervisorctl", "-c", str(conf)]
    log = lambda: (tmp_path / "supervisord.log").read_text() + "".join(p.read_text() for p in logs.glob("*.log"))
    try:
        wait_for(lambda: (jobs / "migrated").exists() and "end" in (jobs / "migrated").read_text(), 120, "the release did not migrate", log)
        wait_for(lambda: (jobs / "ticks").exists(), 120, "beat's task did not run", log)
        answer = functools.partial(answer_on, port)
        wait_for(lambda: answer("/result/none"), 120, "web did not answer", log)
        task_id = answer("/enqueue?x=6&y=7")[1]
        wait_for(lambda: answer(f"/result/{task_id}")[1] == "SUCCESS 13 from-warp-environment", 60, "no result", log)
        released = lambda: [line for line in subprocess.run([*ctl, "status"], capture_output=True, text=True).stdout.splitlines()
                            if line.startswith(f"{group}:{name}-release ") and "EXITED" in line]
        wait_for(released, 60, "the release step did not end", log)
        status = subprocess.run([*ctl, "status"], capture_output=True, text=True).stdout
        for program in (f"{group}:{name} ", f"{group}:{name}-worker-0 ", f"{group}:{name}-worker-1 ", f"{group}:{name}-beat-0 "):
            assert any(line.startswith(program) and "RUNNING" in line for line in status.splitlines()), status

        answer("/enqueue?x=8&y=9&delay=3")
        wait_for(lambda: (jobs / "started-8-9").exists(), 30, "the slow task did not start", log)
        stopped = subprocess.run([*ctl, "stop", f"{group}:*"], capture_output=True, text=True, timeout=90)
        assert f"{group}:{name}-worker-0: stopped" in stopped.stdout, stopped.stdout + stopped.stderr
        assert (jobs / "done-8-9").read_text() == "17"
        assert "Warm shutdown" in log()
    finally:
        supervisord.send_signal(signal.SIGTERM)
        try:
            supervisord.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(supervisord.pid, signal.SIGKILL)
            supervisord.wait()
    assert (jobs / "migrated").read_text().count("start") == 1


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_every_unit_and_the_target_orders_release_before_web(tmp_path):
    app = build_app("django_celery", "gunicorn")
    paths = export(app, "systemd", tmp_path, "-c", "worker=2")
    name = app.name
    assert sorted(path.name for path in paths) == sorted([f"{name}.service", f"{name}-worker@.service", f"{name}-beat@.service",
                                                          f"{name}-release.service", f"{name}.target"])
    target = (tmp_path / f"{name}.target").read_text()
    assert (f"Wants={name}-release.service {name}.service {name}-worker@1.service {name}-worker@2.service "
            f"{name}-beat@1.service\n") in target
    web = (tmp_path / f"{name}.service").read_text()
    assert f"After=network.target {name}-release.service\n" in web and f"Requires={name}-release.service\n" in web
    assert f"WantedBy={name}.target" in web
    release = (tmp_path / f"{name}-release.service").read_text()
    assert "Type=oneshot\nRemainAfterExit=yes\n" in release and release.count("-m warp release\n") == 1
    worker = (tmp_path / f"{name}-worker@.service").read_text()
    assert "-m warp start worker\n" in worker and "KillMode=mixed\n" in worker
    # systemd-analyze checks instances of a template by their own names.
    for instance in (f"{name}-worker@1.service", f"{name}-beat@1.service"):
        (tmp_path / instance).symlink_to(tmp_path / instance.replace("@1", "@"))
    units = [tmp_path / unit for unit in (f"{name}.service", f"{name}-worker@1.service", f"{name}-beat@1.service",
                                          f"{name}-release.service", f"{name}.target")]
    checked = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    for unit in units:
        assert unit.name not in checked.stderr, checked.stderr  # systemd-analyze only warns about unknown keys and bad values


def test_kubernetes_has_a_deployment_per_type_and_release_as_one_job(tmp_path):
    import yaml

    app = build_app("django_celery", "gunicorn")
    manifest, job_file = export(app, "kubernetes", tmp_path, "-c", "web=3,worker=2")
    for path in (manifest, job_file):
        checked = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    docs = list(yaml.safe_load_all(manifest.read_text()))
    kinds = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
    base = app.name.replace("_", "-")
    assert kinds == [("Deployment", base), ("Deployment", f"{base}-worker"), ("Deployment", f"{base}-beat"), ("Service", base)]
    web, worker, beat, service = docs
    assert (web["spec"]["replicas"], worker["spec"]["replicas"], beat["spec"]["replicas"]) == (3, 2, 1)
    worker_container = worker["spec"]["template"]["spec"]["containers"][0]
    assert worker_container["args"] == ["warp", "start", "worker"]
    assert not {"ports", "livenessProbe", "readinessProbe", "startupProbe"} & set(worker_container)
    assert "readinessProbe" in web["spec"]["template"]["spec"]["containers"][0]
    # The Service selects web's pods only.
    assert service["spec"]["selector"].items() <= web["spec"]["template"]["metadata"]["labels"].items()
    for other in (worker, beat):
        assert not service["spec"]["selector"].items() <= other["spec"]["template"]["metadata"]["labels"].items()
    job = yaml.safe_load(job_file.read_text())
    assert job["kind"] == "Job" and job["spec"]["template"]["spec"]["containers"][0]["args"] == ["warp", "release"]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert f"kubectl apply -f {job_file.name} && kubectl wait --for=condition=complete" in manifest.read_text()


def test_procfile_export_writes_every_type_as_honcho_reads_it(tmp_path):
    from honcho.environ import parse_procfile

    app = build_app("django_celery", "gunicorn")
    (procfile,) = export(app, "procfile", tmp_path)
    assert parse_procfile(procfile.read_text()).processes == {
        "web": "warp start --server gunicorn --host 0.0.0.0 --graceful-timeout 30",
        "worker": "warp start worker",
        "beat": "warp start beat",
        "release": "warp release",
    }


@pytest.mark.slow
def test_a_declared_web_runs_as_written_and_release_migrate_is_opt_in(redis, tmp_path, start_all):
    """`web:` in the Procfile is run as written, with $PORT and the app's environment, by `warp start` itself; a Django
    project without a `release:` line gets `warp migrate` as its release step when [tool.warp] release = "migrate"."""
    app = build_app("django_celery", "gunicorn", copy_as="django_celery_declared")
    (app.src / "db.sqlite3").unlink(missing_ok=True)
    (app.src / "Procfile").write_text("web: gunicorn mysite.wsgi --workers 1 --bind 127.0.0.1:$PORT --graceful-timeout 5\n")
    (app.src / "pyproject.toml").write_text('[tool.warp]\nrelease = "migrate"\n')
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    environ = {"WARP_ENV_NAME": app.name, "JOBS_DIR": str(jobs)}

    out = warp("plan", cwd=app.src, home=app.home, env=environ).stdout
    assert "command: " not in out  # no plan of warp's own for a web declared as written
    assert "  web      1      gunicorn mysite.wsgi --workers 1 --bind 127.0.0.1:$PORT --graceful-timeout 5  run as written" in out
    assert "with $PORT; from Procfile line 1" in out
    assert '  release  once   warp migrate' in out and '[tool.warp] release = "migrate"' in out

    released = warp("release", cwd=app.src, home=app.home, env=environ)
    assert " -----> Release: warp migrate" in released.stderr and "Applying jobs.0001_slow... OK" in released.stdout
    assert (jobs / "migrated").read_text().count("start") == 1

    running = start_all(app, free_port(), {"JOBS_DIR": str(jobs), "REDIS_URL": redis}, "web")
    running.wait_serving()
    # warp exec'd the declared command: the process is gunicorn's master, and its SIGTERM is gunicorn's own.
    assert b"gunicorn" in Path(f"/proc/{running.proc.pid}/cmdline").read_bytes()
    assert " -----> Starting web: gunicorn mysite.wsgi" in running.output()
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=30) == 0, running.output()


@pytest.mark.slow
def test_reload_restarts_the_worker_on_a_change_of_its_code(redis, jobs, start_all):
    """Celery has no reloader of its own: under `warp start all --reload` a saved task runs as edited."""
    app = build_app("django_celery", "gunicorn", copy_as="django_celery_reload")
    tasks = app.src / "jobs" / "tasks.py"
    tasks.write_text(CELERY_FILES["jobs/tasks.py"].replace("os.environ.get('GREETING')", "'as first written'"))
    running = start_all(app, free_port(), {"REDIS_URL": redis, "JOBS_DIR": str(jobs)}, args=("--reload",))
    running.wait_serving()
    task_id = running.get("/enqueue?x=1&y=1")[1]
    wait_for(lambda: running.get(f"/result/{task_id}")[1] == "SUCCESS 2 as first written", 60, "no result", running.output)

    tasks.write_text(tasks.read_text().replace("'as first written'", "'as edited'"))
    wait_for(lambda: "warp     | a change: restarting worker.1, beat.1" in running.output(), 30, "no restart", running.output)
    wait_for(lambda: running.output().count(" ready.") >= 2, 60, "the worker did not start again", running.output)
    task_id = running.get("/enqueue?x=2&y=2")[1]
    wait_for(lambda: running.get(f"/result/{task_id}")[1] == "SUCCESS 4 as edited", 60, "no result from the edited task", running.output)
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=60) == 0, running.output()


def test_a_declared_web_is_exported_where_warp_would_find_no_app(tmp_path):
    """The exports describe the declared command (`warp start` runs it), so they need no entry point of warp's."""
    app = build_app("django_celery", "gunicorn", copy_as="django_celery_declared_export")
    manage = app.src / "manage.py"
    hidden = app.src / "manage.py.hidden"
    manage.rename(hidden)  # now nothing warp would serve by itself
    try:
        (app.src / "Procfile").write_text("worker: celery -A mysite worker\n")
        undeclared = warp("export", "procfile", "--out", str(tmp_path), cwd=app.src, home=app.home, check=False,
                          env={"WARP_ENV_NAME": app.name})
        assert undeclared.returncode == 2 and "error:" in undeclared.stderr, undeclared.stderr
        (app.src / "Procfile").write_text("web: gunicorn mysite.wsgi --workers 1 --bind 0.0.0.0:$PORT --graceful-timeout 5\n")
        (procfile,) = export(app, "procfile", tmp_path)
        assert procfile.read_text() == "web: warp start --host 0.0.0.0 --graceful-timeout 30\n"
        (unit,) = export(app, "systemd", tmp_path)
        assert "ExecStart=" in unit.read_text() and "warp start --host 127.0.0.1 --port 8080 --graceful-timeout 30\n" in unit.read_text()
        if shutil.which("systemd-analyze"):
            checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
            assert checked.returncode == 0 and unit.name not in checked.stderr, checked.stderr
        (manifest,) = export(app, "kubernetes", tmp_path)
        checked = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", str(manifest)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        hidden.rename(manage)

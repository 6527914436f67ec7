"""warp.config.processes: the Procfile / [tool.warp.processes] declaration and the process plan, in memory; and
warp.run.multirun's runner on real short-lived processes (sh, sleep), each line prefixed, one stop for all."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from honcho.environ import parse_procfile as honcho_parse_procfile

from warp.config.processes import (
    DECLARED,
    WARP_MIGRATE,
    WARP_WEB,
    is_warp_start,
    make_process_plan,
    make_shell_argv,
    parse_concurrency,
    parse_procfile,
)
from warp.errors import UsageError
from warp.run import multirun

CELERY = "worker: celery -A mysite worker --loglevel INFO\nbeat: celery -A mysite beat\n"


def plan(procfile=None, tool=None, django=False, concurrency=None):
    return make_process_plan(procfile=procfile, tool=tool or {}, is_django=django, concurrency=concurrency)


# ---------------------------------------------------------------- the declaration


@pytest.mark.parametrize("text", [
    "web: gunicorn app:app --bind 0.0.0.0:$PORT\nworker: celery -A app worker\n",
    "web:gunicorn app\n\nclock_1: python clock.py  \n",
    "release: python manage.py migrate --noinput\nweb: warp start\n",
    "my-worker: rq worker high default\n",
])
def test_a_procfile_reads_as_honcho_reads_it(text):
    ours = [(name, command) for name, command, _ in parse_procfile(text)]
    assert ours == [(name, command.strip()) for name, command in honcho_parse_procfile(text).processes.items()]


def test_comments_and_blank_lines_are_skipped_and_line_numbers_kept():
    assert parse_procfile("# the site\n\nweb: gunicorn app\n  # more\nworker: celery -A app worker\n") == [
        ("web", "gunicorn app", 3), ("worker", "celery -A app worker", 5)]


@pytest.mark.parametrize("text, message", [
    ("web: gunicorn app\nworker:\n", "Procfile line 2: process type 'worker' has no command"),
    ("web: gunicorn app\nworker:   \n", "Procfile line 2: process type 'worker' has no command"),
    ("web: a\nworker: b\nweb: c\n", "Procfile line 3: process type 'web' is declared again (first on line 1)"),
    ("my.worker: celery\n", "Procfile line 1: 'my.worker' is not a process type name (letters, digits, _ and - only)"),
    ("my worker: celery\n", "Procfile line 1: 'my worker' is not a process type name (letters, digits, _ and - only)"),
    ("web gunicorn app\n", "Procfile line 1: 'web gunicorn app' is not `TYPE: command`"),
    (": celery\n", "Procfile line 1: '' is not a process type name (letters, digits, _ and - only)"),
    ("all: celery\n", "Procfile line 1: a process type may not be called 'all': `warp start all` names every type"),
])
def test_a_bad_procfile_line_is_an_error_naming_it(text, message):
    with pytest.raises(UsageError) as caught:
        plan(text)
    assert caught.value.message == message
    assert caught.value.hint


def test_without_a_declaration_web_is_warps_own_plan():
    processes = plan()
    assert processes.names == ("web",)
    assert processes.web.kind == WARP_WEB
    assert processes.web.source == "no Procfile or [tool.warp.processes]"
    assert processes.release is None


def test_a_procfile_without_web_keeps_warps_web_first():
    processes = plan(CELERY)
    assert processes.names == ("web", "worker", "beat")
    assert processes.web.kind == WARP_WEB and processes.web.source == "no web in Procfile"
    assert processes.get("worker") .kind == DECLARED and processes.get("worker").source == "Procfile line 1"
    assert processes.declared_in == "Procfile"


def test_a_declared_web_runs_as_written():
    processes = plan("web: gunicorn mysite.wsgi --bind 0.0.0.0:$PORT\n" + CELERY)
    assert processes.web.kind == DECLARED
    assert processes.web.command == "gunicorn mysite.wsgi --bind 0.0.0.0:$PORT"
    assert processes.web.source == "Procfile line 1"


@pytest.mark.parametrize("command", ["warp start", "warp start --processes 4", "exec warp start", "/opt/warp/bin/warp start web",
                                     "python -m warp start --host 0.0.0.0"])
def test_a_declared_web_that_is_warp_start_is_warps_own_plan_not_a_loop(command):
    assert is_warp_start(command)
    processes = plan(f"web: {command}\n")
    assert processes.web.kind == WARP_WEB and processes.web.source == "Procfile line 1"


@pytest.mark.parametrize("line", ["worker: warp start worker", "worker: /opt/warp/bin/warp start worker --port 1",
                                  "worker: python -m warp start beat worker", "worker: warp start all", "release: warp release",
                                  "release: exec warp release"])
def test_a_type_declared_as_the_warp_command_that_runs_it_is_an_error_not_a_loop(line):
    """What `warp export procfile` writes, taken for the project's declaration, would run itself forever."""
    with pytest.raises(UsageError) as caught:
        plan(f"web: gunicorn app\n{line}\n")
    name, command = line.split(": ", 1)
    assert caught.value.message == f"Procfile line 2: {name} runs `{command}`, which would run this same line again"


def test_a_type_may_run_another_warp_command():
    assert plan("clock: warp start beat\nbeat: celery beat\nmigrations: warp migrate\n").get("clock").command == "warp start beat"


@pytest.mark.parametrize("command", ["warp", "warpdrive start", "gunicorn warp:start", "echo warp start"])
def test_other_commands_are_not_warp_start(command):
    assert not is_warp_start(command)


def test_the_pyproject_table_declares_processes_and_counts():
    tool = {"processes": {"worker": {"command": "celery -A mysite worker", "count": 2}, "beat": "celery -A mysite beat"}}
    processes = plan(tool=tool)
    assert processes.names == ("web", "worker", "beat")
    assert processes.get("worker").count == 2 and processes.get("worker").count_source == "[tool.warp.processes] worker"
    assert processes.get("beat").count == 1 and processes.get("beat").source == "[tool.warp.processes] beat"
    assert processes.declared_in == "[tool.warp.processes]"


@pytest.mark.parametrize("tool, message", [
    ({"processes": {"worker": ""}}, "[tool.warp.processes] worker: process type 'worker' has no command"),
    ({"processes": {"worker": {"count": 1}}}, "[tool.warp.processes] worker: process type 'worker' has no command"),
    ({"processes": {"worker": {"command": "celery", "count": 1.5}}}, "[tool.warp.processes] worker: count 1.5 is not a whole number"),
    ({"processes": {"worker": {"command": "celery", "count": -1}}}, "[tool.warp.processes] worker: count -1 is not a whole number"),
    ({"processes": {"worker": {"command": "celery", "replicas": 2}}}, "[tool.warp.processes] worker: unknown key 'replicas'"),
    ({"processes": {"a/b": "celery"}}, "[tool.warp.processes]: 'a/b' is not a process type name (letters, digits, _ and - only)"),
    ({"processes": "celery"}, "[tool.warp.processes] in pyproject.toml is not a table"),
    ({"release": "collectstatic"}, "[tool.warp] release = 'collectstatic': warp knows only 'migrate'"),
    ({"concurrency": "worker=two"}, "[tool.warp] concurrency worker: count 'two' is not a whole number"),
])
def test_a_bad_table_is_an_error_naming_it(tool, message):
    with pytest.raises(UsageError) as caught:
        plan(CELERY if "processes" not in tool else None, tool=tool, django=True)
    assert caught.value.message == message


def test_both_declarations_at_once_is_an_error():
    with pytest.raises(UsageError, match="both Procfile and"):
        plan(CELERY, tool={"processes": {"worker": "celery"}})


def test_release_migrate_is_opt_in_for_django():
    assert plan(django=True).release is None
    release = plan(django=True, tool={"release": "migrate"}).release
    assert release.kind == WARP_MIGRATE and release.command == "warp migrate"
    assert release.source.startswith('[tool.warp] release = "migrate"')
    with pytest.raises(UsageError, match="needs a Django project"):
        plan(tool={"release": "migrate"})


def test_a_declared_release_wins_over_the_opt_in():
    release = plan("release: ./bin/release.sh\n", tool={"release": "migrate"}, django=True).release
    assert release.kind == DECLARED and release.command == "./bin/release.sh"


@pytest.mark.parametrize("text, counts", [
    ("web=2,worker=1", {"web": 2, "worker": 1}),
    ("web=2 worker=0", {"web": 2, "worker": 0}),
    ({"worker": 3}, {"worker": 3}),
])
def test_counts_read_as_honchos_concurrency(text, counts):
    assert parse_concurrency(text, "--concurrency") == counts


@pytest.mark.parametrize("text, message", [
    ("worker=1.5", "--concurrency worker: count '1.5' is not a whole number"),
    ("worker=-1", "--concurrency worker: count '-1' is not a whole number"),
    ("worker", "--concurrency: 'worker' is not TYPE=COUNT"),
    ("wrker=1", "--concurrency: no process type 'wrker'"),
    ("release=2", "--concurrency: the release step runs once; it has no count"),
])
def test_bad_counts_are_errors(text, message):
    with pytest.raises(UsageError) as caught:
        plan(CELERY + "release: migrate\n", concurrency=(text, "--concurrency"))
    assert caught.value.message == message


def test_the_command_line_counts_win_over_the_declarations():
    processes = plan(tool={"processes": {"worker": {"command": "celery", "count": 2}}, "concurrency": "worker=3,web=2"},
                     concurrency=("worker=4", "--concurrency"))
    assert (processes.get("worker").count, processes.get("worker").count_source) == (4, "--concurrency")
    assert (processes.web.count, processes.web.count_source) == (2, "[tool.warp] concurrency")


def test_all_selects_every_long_running_type_with_a_count():
    processes = plan(CELERY + "release: migrate\nclock: python clock.py\n", concurrency=("clock=0", "-c"))
    assert [p.name for p in processes.select(("all",))] == ["web", "worker", "beat"]
    assert [p.name for p in processes.select(("beat", "web"))] == ["web", "beat"]


@pytest.mark.parametrize("names, message", [
    (("wrker",), "no process type 'wrker'"),
    (("release",), "the release step runs once, not beside the others"),
    (("all", "web"), "`all` names every process type; it goes alone"),
])
def test_an_unknown_type_on_the_command_line_is_an_error(names, message):
    with pytest.raises(UsageError) as caught:
        plan(CELERY + "release: migrate\n").select(names)
    assert caught.value.message == message
    if names == ("wrker",):
        assert caught.value.hint == "the types are: web, worker, beat (or `all`)"


@pytest.mark.parametrize("command, argv, group", [
    ("celery -A mysite worker", ("/bin/sh", "-c", "exec celery -A mysite worker"), False),
    ('celery beat --schedule "$JOBS_DIR/s"', ("/bin/sh", "-c", 'exec celery beat --schedule "$JOBS_DIR/s"'), False),
    ("exec gunicorn app", ("/bin/sh", "-c", "exec gunicorn app"), False),
    ("gunicorn app >> log", ("/bin/sh", "-c", "exec gunicorn app >> log"), False),
    ("cd app && celery worker", ("/bin/sh", "-c", "cd app && celery worker"), True),
    ("a | b", ("/bin/sh", "-c", "a | b"), True),
    ("A=1 celery worker", ("/bin/sh", "-c", "A=1 celery worker"), True),
])
def test_a_simple_command_is_execd_so_that_it_gets_the_stop_itself(command, argv, group):
    assert make_shell_argv(command) == (argv, group)


def test_a_simple_command_is_the_shells_own_process_after_exec(tmp_path):
    """Debian's dash stays the parent of `sh -c CMD`; with exec the command is the process warp signals."""
    argv, _ = make_shell_argv("sleep 5")
    child = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child.pid}/comm").read_text().strip() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Path(f"/proc/{child.pid}/comm").read_text().strip() == "sleep"
    finally:
        child.kill()
        child.wait()


# ---------------------------------------------------------------- the runner


def run(children, timeout=5.0, after=None):
    out = io.BytesIO()
    printer = multirun.Printer(out, [child.name for child in children] + ["warp"], colour=False)
    if after is not None:
        threading.Timer(after[0], after[1]).start()
    code = multirun.run_children(children, timeout=timeout, printer=printer)
    return code, out.getvalue().decode()


def child(name, script, tmp_path):
    return multirun.Child(name, ("/bin/sh", "-c", script), dict(os.environ), tmp_path)


def test_each_line_is_prefixed_and_the_first_to_end_ends_the_others_with_its_code(tmp_path):
    started = time.monotonic()
    code, out = run([
        child("web.1", "echo serving; exec sleep 30", tmp_path),
        child("worker.1", "echo working; sleep 0.3; echo failing >&2; exit 3", tmp_path),
    ])
    assert code == 3
    assert time.monotonic() - started < 10
    lines = out.splitlines()
    assert "web.1    | serving" in lines and "worker.1 | working" in lines and "worker.1 | failing" in lines
    assert "warp     | worker.1 exited with code 3; stopping the others" in lines
    assert "warp     | web.1 stopped (code 143)" in lines


def test_a_process_killed_by_a_signal_ends_the_others_with_128_plus_the_signal(tmp_path):
    pidfile = tmp_path / "pid"
    killer = lambda: os.kill(int(pidfile.read_text()), signal.SIGKILL)
    code, out = run([child("web.1", "exec sleep 30", tmp_path), child("worker.1", f"echo $$ > {pidfile}; exec sleep 30", tmp_path)],
                    after=(0.5, killer))
    assert code == 137
    assert "worker.1 exited with code 137; stopping the others" in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_every_process_gracefully_and_exits_0(sig, tmp_path):
    """Each child traps SIGTERM and takes a moment to finish: all of them finish, within the timeout."""
    script = "trap 'sleep 0.5; echo finished; exit 0' TERM; echo ready; while :; do sleep 0.1; done"
    code, out = run([child("web.1", script, tmp_path), child("worker.1", script, tmp_path)],
                    after=(0.5, lambda: os.kill(os.getpid(), sig)))
    assert code == 0
    assert "web.1    | finished" in out.splitlines() and "worker.1 | finished" in out.splitlines()
    assert f"{sig.name}: stopping every process (graceful timeout 5s)" in out


def test_a_process_that_ignores_the_stop_is_killed_after_the_timeout(tmp_path):
    started = time.monotonic()
    code, out = run([child("web.1", "trap '' TERM; while :; do sleep 0.1; done", tmp_path), child("worker.1", "exec sleep 30", tmp_path)],
                    timeout=1, after=(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM)))
    assert 1 <= time.monotonic() - started < 6
    assert "web.1 did not stop within 1s; killing" in out
    assert code == 137


def test_colours_only_on_a_terminal(tmp_path):
    out = io.BytesIO()
    printer = multirun.Printer(out, ["web.1", "worker.1"], colour=True)
    printer.write("worker.1", b"hello\n")
    assert out.getvalue() == b"\x1b[33mworker.1 | \x1b[0mhello\n"
    assert not multirun.should_colour(io.StringIO(), {})
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert multirun.should_colour(terminal, {})
        assert not multirun.should_colour(terminal, {"NO_COLOR": "1"})
    os.close(leader)
    with open(os.devnull) as not_a_tty:
        assert not multirun.should_colour(not_a_tty, {})


def test_under_reload_a_change_restarts_the_named_processes_and_an_exit_waits_for_the_next_change(tmp_path):
    changed = threading.Event()
    out = io.BytesIO()
    children = [child("web.1", "echo web up; exec sleep 30", tmp_path), child("worker.1", "echo worker up; exec sleep 30", tmp_path),
                child("clock.1", "echo clock up; exit 4", tmp_path)]
    printer = multirun.Printer(out, [c.name for c in children] + ["warp"], colour=False)

    def script():
        deadline = time.monotonic() + 10
        while b"clock.1 exited" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        changed.set()
        while out.getvalue().count(b"worker up") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=script, daemon=True).start()
    code = multirun.run_children(children, timeout=5, printer=printer, changed=changed, restart=frozenset({"worker.1", "clock.1"}))
    text = out.getvalue().decode()
    assert code == 0, text
    assert "warp     | clock.1 exited with code 4; it starts again at the next change" in text
    assert "warp     | a change: restarting worker.1, clock.1" in text
    assert text.count("worker up") == 2 and text.count("clock up") == 2
    assert text.count("web up") == 1  # web restarts itself (`warp start --reload`)


def test_output_nobody_reads_is_dropped_and_the_children_go_on(tmp_path):
    """`warp start all | head -1`: once head is gone, a child that writes on must neither block nor end the others."""
    read, write = os.pipe()
    os.close(read)
    printer = multirun.Printer(os.fdopen(write, "wb", buffering=0), ["worker.1", "warp"], colour=False)
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in Python: EPIPE rather than death
    try:
        # Bounded: a child blocked on its full pipe is ended by timeout(1) after 10 s, with 124.
        code = multirun.run_children([child("worker.1", "timeout 10 sh -c 'yes line | head -c 1000000; exit 5'", tmp_path)],
                                     timeout=5, printer=printer)
    finally:
        signal.signal(signal.SIGPIPE, previous)
    assert code == 5

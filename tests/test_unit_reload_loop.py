"""The --reload loop, driven by scripted change batches, fake processes and a fake clock."""

from __future__ import annotations

import signal

from warp.reload.loop import Reloader, World, run_loop
from warp.reload.watch import Reaction


class FakeProcess:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode = None

    def poll(self):
        return self.returncode


class FakeWorld:
    """Processes, signals and time, as the reloader sees them."""

    def __init__(self) -> None:
        self.now = 0.0
        self.processes: list[FakeProcess] = []
        self.signals: list[tuple[int, int]] = []
        self.signalled_at: dict[tuple[int, int], float] = {}
        self.reports: list[str] = []
        self.alive: set[int] = set()
        self.prepared: list[Reaction] = []
        self.prepare_answer = True
        self.tick = 0.0  # how far the clock moves each time it is read

    def clock(self):
        self.now += self.tick
        return self.now

    def spawn(self):
        process = FakeProcess(100 + len(self.processes))
        self.processes.append(process)
        self.alive.add(process.pid)
        return process

    def signal_group(self, pid, sig):
        self.signals.append((pid, sig))
        self.signalled_at.setdefault((pid, sig), self.now)
        if sig == signal.SIGKILL:
            self.alive.discard(pid)
            for process in self.processes:
                if process.pid == pid and process.returncode is None:
                    process.returncode = -9

    def wait_ready(self, process):
        self.now += 0.25
        return process.returncode is None

    def prepare(self, reaction):
        self.prepared.append(reaction)
        return self.prepare_answer

    def outside(self, **extra):
        return World(
            spawn=self.spawn, wait_ready=self.wait_ready, prepare=self.prepare, report=self.reports.append,
            signal_group=self.signal_group, group_alive=lambda pid: pid in self.alive, clock=self.clock, **extra,
        )


def classify(batch):
    name = sorted(batch)[0]
    kind = {"requirements.txt": "install", "site.css": "static"}.get(name, "restart")
    return Reaction(kind, name)


def test_a_change_replaces_the_child_and_reports_how_long_it_took():
    world = FakeWorld()
    reloader = Reloader(world.outside(), "gunicorn")
    run_loop(reloader, [set(), {"wsgi.py"}, set()], classify)
    first, second = world.processes
    assert (first.pid, signal.SIGTERM) in world.signals
    assert reloader.child is second
    assert world.reports == [" -----> Restarted gunicorn in 0.25s after a change to wsgi.py"]


def test_a_child_forked_from_the_parked_process_is_reported_as_a_warm_restart_and_idle_runs_between_changes():
    world = FakeWorld()
    idle = []

    def spawn():
        process = world.spawn()
        process.warm = len(world.processes) > 1  # the first server starts anew; the next is forked warm
        return process

    reloader = Reloader(World(spawn=spawn, wait_ready=world.wait_ready, prepare=world.prepare, report=world.reports.append,
                              signal_group=world.signal_group, group_alive=lambda pid: pid in world.alive, clock=world.clock,
                              idle=lambda: idle.append(world.now)), "waitress")
    run_loop(reloader, [set(), {"wsgi.py"}, set()], classify)
    assert world.reports == [" -----> Restarted waitress in 0.25s after a change to wsgi.py (warm)"]
    assert len(idle) == 3  # once per batch, before the child is looked at


def test_a_replaced_child_that_ignores_sigterm_is_killed_once_the_grace_period_has_passed():
    """The loop looks every 0.1 s: no SIGKILL while the old child may still be finishing requests, one just after."""
    world = FakeWorld()
    reloader = Reloader(world.outside(), "gunicorn")
    old = 100  # the first child's pid

    def script():
        yield {"wsgi.py"}
        while (old, signal.SIGKILL) not in world.signals and world.now < 60:
            world.now += 0.1
            yield set()

    run_loop(reloader, script(), classify)
    asked, killed = world.signalled_at[(old, signal.SIGTERM)], world.signalled_at[(old, signal.SIGKILL)]
    assert 3.0 < killed - asked <= 3.1 + 1e-9  # the README's "killed after 3 s", at the first look after it
    reloader.reap()  # the next look finds the group gone and forgets it
    assert reloader.stopping == []


def test_a_crash_is_reported_once_and_the_loop_waits_for_a_change():
    world = FakeWorld()
    reloader = Reloader(world.outside(), "uwsgi")
    batches = iter([set(), set(), set()])

    def script():
        yield next(batches)
        world.processes[0].returncode = 3
        world.alive.discard(world.processes[0].pid)
        yield next(batches)
        yield next(batches)
        yield {"wsgi.py"}

    run_loop(reloader, script(), classify)
    assert world.reports[0] == "warning: uwsgi exited with code 3; fix the error above and save to restart"
    assert sum("exited" in line for line in world.reports) == 1
    assert len(world.processes) == 2  # no restart loop: one new child, after the change
    assert not reloader.crashed


def test_a_reaction_that_needs_no_restart_keeps_the_child():
    world = FakeWorld()
    world.prepare_answer = False
    reloader = Reloader(world.outside(), "gunicorn")
    run_loop(reloader, [{"site.css"}], classify)
    assert len(world.processes) == 1
    assert world.prepared == [Reaction("static", "site.css")]


def test_reload_in_place_skips_the_restart():
    world = FakeWorld()
    reloaded = []
    reloader = Reloader(world.outside(reload_in_place=lambda child: reloaded.append(child.pid) or True), "mod_wsgi")
    run_loop(reloader, [{"wsgi.py"}], classify)
    assert reloaded == [100] and len(world.processes) == 1
    assert world.reports == [" -----> Restarted mod_wsgi in 0.25s after a change to wsgi.py"]


def test_an_app_that_fails_to_load_in_place_is_reported_and_the_server_kept():
    world = FakeWorld()
    world.wait_ready = lambda process: False  # the new children could not import the app
    reloader = Reloader(world.outside(reload_in_place=lambda child: True), "mod_wsgi")
    run_loop(reloader, [{"wsgi.py"}, {"wsgi.py"}], classify)
    assert len(world.processes) == 1 and not reloader.crashed and world.signals == []
    assert world.reports == ["warning: the app did not load after the change to wsgi.py; fix the error above and save to retry"] * 2


def test_a_stop_request_ends_the_loop_and_shutdown_stops_every_child():
    world = FakeWorld()
    reloader = Reloader(world.outside(), "waitress")

    def script():
        yield {"wsgi.py"}
        reloader.stop_requested = signal.SIGINT
        yield {"wsgi.py"}

    run_loop(reloader, script(), classify)
    assert len(world.processes) == 2  # the change after the stop request was not acted on
    world.tick = 0.5  # time passes while shutdown waits for children that ignore SIGTERM
    reloader.shutdown(timeout=1)
    for process in world.processes:
        assert (process.pid, signal.SIGKILL) in world.signals


def test_a_custom_graceful_stop_is_used_instead_of_sigterm():
    world = FakeWorld()
    stopped = []
    reloader = Reloader(world.outside(stop_child=lambda child: stopped.append(child.pid)), "uwsgi")
    run_loop(reloader, [{"wsgi.py"}], classify)
    assert stopped == [100]
    assert (100, signal.SIGTERM) not in world.signals

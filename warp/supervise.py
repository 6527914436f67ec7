"""The --reload loop: warp is the parent, the server a child restarted on change.

The parent holds the listening socket (for servers that accept one), so
requests made during a restart wait in the backlog instead of being refused.
After a crash the loop waits for the next change instead of retrying (hupper).
Signal handlers only record the signal; the loop acts on it.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from warp import proc
from warp.watch import Reaction

#: Seconds a replaced child gets to finish before its process group is killed.
RESTART_GRACE = 3.0


class Process(Protocol):
    pid: int

    def poll(self) -> int | None: ...


@dataclass
class Hooks:
    """What the loop needs from the outside world; tests pass fakes."""

    spawn: Callable[[], Process]
    #: Block until the new child is ready (True), died, or a timeout passed (False).
    wait_ready: Callable[[Process], bool]
    #: Handle a reaction that needs more than a restart (install, static, config); False = do not restart.
    prepare: Callable[[Reaction], bool]
    report: Callable[[str], None]
    #: Restart the app inside a still-running server (Apache's own restart); None = replace the child.
    reload_in_place: Callable[[Process], bool] | None = None
    #: Wait for the old child to exit before starting the new one (servers that bind the port themselves).
    sequential: bool = False
    #: Ask a child to stop gracefully; default SIGTERM to its process group.
    stop_child: Callable[[Process], None] | None = None
    signal_group: Callable[[int, int], None] = proc.signal_group
    group_alive: Callable[[int], bool] = proc.is_group_running
    clock: Callable[[], float] = time.monotonic


@dataclass
class Reloader:
    hooks: Hooks
    name: str
    child: Process | None = None
    crashed: bool = False
    stopping: list[tuple[Process, float]] = field(default_factory=list)
    stop_requested: int | None = None

    def start(self) -> None:
        self.child = self.hooks.spawn()
        self.crashed = False

    def check_child(self) -> None:
        """Notice a child that exited on its own; wait for a change instead of looping."""
        if self.child is not None and not self.crashed:
            code = self.child.poll()
            if code is not None:
                self.crashed = True
                self.hooks.report(f"warning: {self.name} exited with code {code}; fix the error above and save to restart")
        self.reap()

    def reap(self) -> None:
        """Forget replaced children that are gone; kill those past their grace period."""
        now = self.hooks.clock()
        still = []
        for process, deadline in self.stopping:
            process.poll()
            if not self.hooks.group_alive(process.pid):
                continue
            if now > deadline:
                self.hooks.signal_group(process.pid, signal.SIGKILL)
            still.append((process, deadline))
        self.stopping = still

    def on_change(self, reaction: Reaction) -> None:
        started = self.hooks.clock()
        if not self.hooks.prepare(reaction):
            return
        if self.hooks.reload_in_place and self.child is not None and not self.crashed and reaction.kind != "config":
            if self.hooks.reload_in_place(self.child):
                self._report_ready(started, reaction)
                return
        self.retire(self.child)
        self.start()
        self._report_ready(started, reaction)

    def _report_ready(self, started: float, reaction: Reaction) -> None:
        if self.hooks.wait_ready(self.child):
            elapsed = self.hooks.clock() - started
            self.hooks.report(f" -----> Restarted {self.name} in {elapsed:.2f}s after a change to {reaction.path}")
        elif self.child.poll() is None and self.stop_requested is None:
            self.hooks.report(f"warning: the app did not load after the change to {reaction.path}; fix the error above and save to retry")

    def retire(self, child: Process | None) -> None:
        """SIGTERM to the child's process group; SIGKILL after the grace period."""
        if child is None:
            return
        self._ask_to_stop(child)
        deadline = self.hooks.clock() + RESTART_GRACE
        if self.hooks.sequential:
            while self.hooks.group_alive(child.pid) and self.hooks.clock() < deadline:
                child.poll()
                time.sleep(0.01)
            self.hooks.signal_group(child.pid, signal.SIGKILL)
            child.poll()
        else:
            self.stopping.append((child, deadline))

    def shutdown(self, timeout: float) -> None:
        """Stop everything: the child gracefully, then anything left is killed."""
        children = [p for p, _ in self.stopping] + ([self.child] if self.child else [])
        for process in children:
            self._ask_to_stop(process)
        deadline = self.hooks.clock() + timeout
        while self.hooks.clock() < deadline:
            for process in children:
                process.poll()
            if not any(self.hooks.group_alive(p.pid) for p in children):
                break
            time.sleep(0.02)
        for process in children:
            self.hooks.signal_group(process.pid, signal.SIGKILL)
            process.poll()


    def _ask_to_stop(self, child: Process) -> None:
        if self.hooks.stop_child is not None:
            self.hooks.stop_child(child)
        else:
            self.hooks.signal_group(child.pid, signal.SIGTERM)


def run_loop(reloader: Reloader, batches: Iterable[set[str]], classify: Callable[[set[str]], Reaction | None]) -> None:
    """Drive the reloader from batches of changes until the batches end (the stop event)."""
    reloader.start()
    for batch in batches:
        if reloader.stop_requested is not None:
            break
        reloader.check_child()
        if not batch:
            continue
        reaction = classify(batch)
        if reaction is not None:
            reloader.on_change(reaction)


class StopOnSignal:
    """Install handlers that only record SIGINT/SIGTERM and set an event."""

    def __init__(self, reloader: Reloader) -> None:
        self.event = threading.Event()
        self.reloader = reloader
        self.previous = {}

    def __enter__(self) -> threading.Event:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self.event

    def _handle(self, signum, frame) -> None:
        self.reloader.stop_requested = signum
        self.event.set()

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

"""Several processes run together, as honcho and foreman run a Procfile: one output stream, each line prefixed
with its process's name (in colour on a terminal), one graceful stop for all, and the first process to end
ending the others with its exit code.

Each child has a process group of its own in warp's session (warp.proc.spawn): the terminal's Ctrl-C reaches
warp alone. A stop sends SIGTERM to each child itself, not to its group, as systemd's KillMode=mixed does:
Celery's worker finishes the tasks in progress on SIGTERM, while its pool processes would die on one; after the
graceful timeout every group left is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Mapping, Sequence

from warp import proc
from warp.run.parent import SignalFlag, exit_code

#: honcho's colours, in its order: cyan, yellow, green, magenta, red, blue, then their bright versions.
COLOURS = ("36", "33", "32", "35", "31", "34", "1;36", "1;33", "1;32", "1;35", "1;31", "1;34")
#: How often the children are looked at.
TICK = 0.05


@dataclass(frozen=True)
class Child:
    """One process to run: its name in the output (``worker.1``), command, environment and directory."""

    name: str
    argv: tuple[str, ...]
    environ: Mapping[str, str]
    cwd: Path
    #: A stop signals the child's whole process group (a shell running a compound command), not the child alone.
    stop_group: bool = False


class Printer:
    """Lines from every child, whole, each after its name; colours only when ``colour``."""

    def __init__(self, out: BinaryIO, names: Sequence[str], colour: bool) -> None:
        self.out = out
        self.width = max(len(name) for name in names)
        self.colours = {name: COLOURS[index % len(COLOURS)] for index, name in enumerate(names)} if colour else {}
        self.lock = threading.Lock()

    def prefix(self, name: str) -> bytes:
        text = f"{name:<{self.width}} | "
        colour = self.colours.get(name)
        return (f"\033[{colour}m{text}\033[0m" if colour else text).encode()

    def write(self, name: str, line: bytes) -> None:
        if not line.endswith(b"\n"):
            line += b"\n"
        with self.lock:
            try:
                self.out.write(self.prefix(name) + line)
                self.out.flush()
            except OSError:  # nobody reads warp's output any more (`| head`): the children must not block on theirs
                pass

    def say(self, line: str) -> None:
        """warp's own lines about the children, under the name ``warp``, as honcho prints its ``system`` lines."""
        self.write("warp".ljust(min(4, self.width)), line.encode())


def should_colour(stream, environ: Mapping[str, str]) -> bool:
    """Colours on a terminal only, unless NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not environ.get("NO_COLOR")


def run_children(children: Sequence[Child], *, timeout: float, printer: Printer,
                 spawn: Callable[..., subprocess.Popen] | None = None, changed: threading.Event | None = None,
                 restart: frozenset[str] = frozenset()) -> int:
    """Run ``children`` until one ends or warp is told to stop; stop the rest gracefully; return the exit code.

    The exit code is that of the first child to end by itself (128+n for a signal n). After SIGTERM, SIGINT or
    SIGHUP it is 0 when every child stopped within the timeout (a child that dies of the SIGTERM it was sent
    counts as stopped), else that of the first child that failed or had to be killed.

    With ``changed`` (--reload), each time it is set the children named in ``restart`` are stopped gracefully and
    started again, with any child that had ended; a child that ends by itself then waits for the next change
    instead of ending the others.
    """
    run = _Run(children, spawn or _spawn, printer)
    flag = SignalFlag()
    previous = {sig: signal.signal(sig, flag) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        for child in children:
            if flag.signals:
                break
            run.start(child.name)
        return run.supervise(flag, timeout, changed, restart)
    finally:
        run.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spawn(child: Child) -> subprocess.Popen:
    return proc.spawn(child.argv, env=child.environ, cwd=child.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT)


def _copy_lines(stream, name: str, printer: Printer) -> None:
    for line in iter(stream.readline, b""):
        printer.write(name, line)
    stream.close()


class _Run:
    """The children of one `warp start all`: started, stopped, restarted, waited for."""

    def __init__(self, children: Sequence[Child], spawn: Callable[..., subprocess.Popen], printer: Printer) -> None:
        self.children = {child.name: child for child in children}
        self.spawn = spawn
        self.printer = printer
        self.running: dict[str, subprocess.Popen] = {}
        self.readers: list[threading.Thread] = []

    def start(self, name: str) -> None:
        popen = self.spawn(self.children[name])
        self.running[name] = popen
        reader = threading.Thread(target=_copy_lines, args=(popen.stdout, name, self.printer), daemon=True)
        reader.start()
        self.readers.append(reader)

    def terminate(self, name: str) -> None:
        """The graceful stop: SIGTERM to the child itself, or to its group (a shell running a compound command)."""
        popen = self.running[name]
        (proc.signal_group if self.children[name].stop_group else proc.signal_process)(popen.pid, signal.SIGTERM)

    def kill(self, name: str) -> None:
        proc.signal_group(self.running[name].pid, signal.SIGKILL)

    def close(self) -> None:
        for name in self.running:
            self.kill(name)  # what is left of each group, if anything
        for reader in self.readers:
            reader.join(timeout=2)

    def restart(self, names: list[str], timeout: float) -> None:
        """Stop ``names`` gracefully (killed after ``timeout``), wait for them, start them again."""
        live = [name for name in names if self.running[name].poll() is None]
        for name in live:
            self.terminate(name)
        deadline = time.monotonic() + timeout
        while any(self.running[name].poll() is None for name in live):
            if time.monotonic() > deadline:
                for name in live:
                    self.kill(name)
            time.sleep(TICK)
        for name in live:
            self.kill(name)
        for name in names:
            self.start(name)

    def supervise(self, flag: SignalFlag, timeout: float, changed: threading.Event | None, restart: frozenset[str]) -> int:
        printer, running = self.printer, self.running
        codes: dict[str, int] = {}
        first_end: tuple[str, int] | None = None
        deadline: float | None = None
        killed = False
        handled = 0

        ended_before_stop: set[str] = set()  # under --reload, children that had crashed: their codes do not count

        def stop_all() -> float:
            ended_before_stop.update(codes)
            for name in running:
                if name not in codes:
                    self.terminate(name)
            return time.monotonic() + timeout

        while True:
            for name, popen in running.items():
                if name in codes:
                    continue
                code = popen.poll()
                if code is None:
                    continue
                codes[name] = code
                if deadline is not None:
                    printer.say(f"{name} stopped (code {exit_code(code)})")
                elif changed is not None:
                    printer.say(f"{name} exited with code {exit_code(code)}; it starts again at the next change")
                else:
                    first_end = (name, code)
                    printer.say(f"{name} exited with code {exit_code(code)}; stopping the others")
                    deadline = stop_all()
            if len(codes) == len(running) and (deadline is not None or changed is None):
                break
            if len(flag.signals) > handled:
                handled = len(flag.signals)
                if deadline is None:
                    name = signal.Signals(flag.signals[-1]).name
                    printer.say(f"{name}: stopping every process (graceful timeout {timeout:g}s)")
                    deadline = stop_all()
                elif flag.signals[-1] == signal.SIGINT:  # a second Ctrl-C: stop now
                    for name in running:
                        self.kill(name)
                    killed = True
            if deadline is None and changed is not None and changed.is_set():
                changed.clear()
                names = [name for name in self.children if name in restart or name in codes]
                if names:
                    printer.say(f"a change: restarting {', '.join(names)}")
                    self.restart(names, min(timeout, 10))
                    for name in names:
                        codes.pop(name, None)
            if deadline is not None and not killed and time.monotonic() > deadline:
                left = [name for name in running if name not in codes]
                printer.say(f"{', '.join(left)} did not stop within {timeout:g}s; killing")
                for name in left:
                    self.kill(name)
                killed = True
            time.sleep(TICK)
        if first_end is not None:
            return exit_code(first_end[1])
        for name, code in codes.items():
            if name not in ended_before_stop and code not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
                return exit_code(code)
        return 1 if killed else 0


def find_output() -> BinaryIO:
    """warp's standard output, as bytes."""
    sys.stdout.flush()
    return os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)

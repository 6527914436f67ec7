"""The --reload loop: restart the server on a change, wait for the next change after a crash, with its children.

The parent holds the listening socket (for servers that accept one), so
requests made during a restart wait in the backlog instead of being refused.
After a crash the loop waits for the next change instead of retrying (hupper).
Signal handlers only record the signal; the loop acts on it. What differs
between servers (their argv, how they stop, a reload in place) comes from the
plan's adapter. While the app cannot load, ErrorPage answers on its port with
the reason.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

from warp import proc
from warp.run import claims
from warp.run.parent import graceful_stop
from warp.servers import Stop

if TYPE_CHECKING:
    from warp.plan import StartPlan
    from warp.reload.warm import WarmParent
    from warp.reload.watch import Reaction

#: Seconds a replaced child gets to finish before its process group is killed.
RESTART_GRACE = 3.0


class Process(Protocol):
    pid: int

    def poll(self) -> int | None: ...


@dataclass
class World:
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
    sequential: Callable[[], bool] = lambda: False
    #: Ask a child to stop gracefully; default SIGTERM to its process group.
    stop_child: Callable[[Process], None] | None = None
    #: Called between changes (about ten times a second).
    idle: Callable[[], None] = lambda: None
    #: The child ended on its own (the app cannot load, say): show why until the next change, on the app's port.
    crashed: Callable[[Process, int], None] = lambda child, code: None
    signal_group: Callable[[int, int], None] = proc.signal_group
    group_alive: Callable[[int], bool] = proc.is_group_running
    clock: Callable[[], float] = time.monotonic


@dataclass
class Reloader:
    world: World
    name: str
    child: Process | None = None
    crashed: bool = False
    stopping: list[tuple[Process, float]] = field(default_factory=list)
    stop_requested: int | None = None

    def start(self) -> None:
        self.child = self.world.spawn()
        self.crashed = False

    def check_child(self) -> None:
        """Notice a child that exited on its own; wait for a change instead of looping."""
        self.world.idle()
        if self.child is not None and not self.crashed:
            code = self.child.poll()
            if code is not None:
                self.crashed = True
                self.world.report(f"warning: {self.name} exited with code {code}; fix the error above and save to restart")
                self.world.crashed(self.child, code)
        self.reap()

    def reap(self) -> None:
        """Forget replaced children that are gone; kill those past their grace period."""
        now = self.world.clock()
        still = []
        for process, deadline in self.stopping:
            process.poll()
            if not self.world.group_alive(process.pid):
                continue
            if now > deadline:
                self.world.signal_group(process.pid, signal.SIGKILL)
            still.append((process, deadline))
        self.stopping = still

    def on_change(self, reaction: Reaction) -> None:
        started = self.world.clock()
        if not self.world.prepare(reaction):
            return
        # A new plan (.warp/, the settings, a build) may change the server's command: a new child, not a reload in place.
        if self.world.reload_in_place and self.child is not None and not self.crashed and reaction.kind in ("restart", "static"):
            if self.world.reload_in_place(self.child):
                self._report_ready(started, reaction)
                return
        self.retire(self.child)
        self.start()
        self._report_ready(started, reaction)

    def _report_ready(self, started: float, reaction: Reaction) -> None:
        if self.world.wait_ready(self.child):
            elapsed = self.world.clock() - started
            how = " (warm)" if getattr(self.child, "warm", False) else ""
            self.world.report(f" -----> Restarted {self.name} in {elapsed:.2f}s after a change to {reaction.path}{how}")
        elif self.child.poll() is None and self.stop_requested is None:
            self.world.report(f"warning: the app did not load after the change to {reaction.path}; fix the error above and save to retry")

    def retire(self, child: Process | None) -> None:
        """SIGTERM to the child's process group; SIGKILL after the grace period."""
        if child is None:
            return
        self._ask_to_stop(child)
        deadline = self.world.clock() + RESTART_GRACE
        if self.world.sequential():
            while self.world.group_alive(child.pid) and self.world.clock() < deadline:
                child.poll()
                time.sleep(0.01)
            self.world.signal_group(child.pid, signal.SIGKILL)
            child.poll()
        else:
            self.stopping.append((child, deadline))

    def shutdown(self, timeout: float) -> None:
        """Stop everything: the child gracefully, then anything left is killed."""
        children = [p for p, _ in self.stopping] + ([self.child] if self.child else [])
        for process in children:
            self._ask_to_stop(process)
        deadline = self.world.clock() + timeout
        while self.world.clock() < deadline:
            for process in children:
                process.poll()
            if not any(self.world.group_alive(p.pid) for p in children):
                break
            time.sleep(0.02)
        for process in children:
            self.world.signal_group(process.pid, signal.SIGKILL)
            process.poll()


    def _ask_to_stop(self, child: Process) -> None:
        if self.world.stop_child is not None:
            self.world.stop_child(child)
        else:
            self.world.signal_group(child.pid, signal.SIGTERM)


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


# ---------------------------------------------------------------- stopping a server gracefully


# ---------------------------------------------------------------- --reload: the server's children


class ServerChildren:
    """Starts the plan's server as warp's child on warp's socket, stops it, and tells when its new code is up.

    ``plan`` is replaced when the project is read again. Each child is made from the plan's launch
    with a new generation, so per-child files (uWSGI's control FIFO) never collide.
    """

    def __init__(self, plan: StartPlan, sock: socket.socket | None, warm: WarmParent | None = None) -> None:
        self.plan = plan
        self.sock = sock
        #: Forks the new servers when the plan says so (plan.warm); the first and any after a change it cannot take start anew.
        self.warm = warm
        self.ready_read, self.ready_write = os.pipe()
        os.set_blocking(self.ready_read, False)
        self.stops: dict[int, Stop] = {}
        self.generation = 0
        self.stop_requested: Callable[[], bool] = lambda: False
        self.error_page = ErrorPage()

    @property
    def signals_ready(self) -> bool:
        """Every adapter's wrapper or launcher writes to the ready pipe; app.py and app.sh only listen."""
        return self.plan.launch is not None

    def spawn(self):
        self.error_page.stop()  # the port is the new server's again
        self._drain()  # a byte left by an earlier child must not count for this one
        self.generation += 1
        if self.plan.import_marker is not None:  # an earlier child's would keep this one's error unsaid
            self.plan.import_marker.unlink(missing_ok=True)
            command = self.plan.make_command(generation=self.generation)
            argv, stop = command.argv, command.stop
        else:
            argv, stop = self.plan.argv, self.plan.stop
        environ = self.make_environ()
        child = None
        if self.is_warm:
            child = self.warm.fork(argv, self.plan.cwd, environ)
        if child is None:
            child = proc.spawn(argv, env=environ, cwd=self.plan.cwd, pass_fds=self.fds)
        self.stops[child.pid] = stop
        return child

    @property
    def is_warm(self) -> bool:
        return self.warm is not None and self.plan.warm

    @property
    def fds(self) -> tuple[int, ...]:
        return (self.ready_write,) + ((self.sock.fileno(),) if self.sock else ())

    def make_environ(self) -> dict[str, str]:
        environ = {**self.plan.environ, "WARP_READY_FD": str(self.ready_write)}
        if self.is_warm:
            environ["WARP_MODULES_FILE"] = str(self.warm.modules_file)
        return environ

    def idle(self) -> None:
        """Between changes: start a parked process once a server is up, and hear from it."""
        if self.warm is None:
            return
        if not self.plan.warm:
            self.warm.close()
            return
        if self.warm.parked is None and not self.warm.wanted:
            try:
                news = os.read(self.ready_read, 64)  # the first server's "loaded", which no one waits for
            except BlockingIOError:
                news = b""
            if b"1" in news:
                self.warm.want()
        if self.warm.wanted and self.warm.parked is None:
            self.warm.start(self.plan, self.make_environ(), self.fds, self.plan.launch.python_path)
        self.warm.tick()

    def stop_child(self, child) -> None:
        stop = self.stops.pop(child.pid, self.plan.stop)
        graceful_stop(stop, child.pid)
        if stop.kind == "fifo":
            stop.path.unlink(missing_ok=True)

    def wait_ready(self, child) -> bool:
        """True once the new code is up; False when the child died or the app failed to load (its error is shown)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.stop_requested():
            if child.poll() is not None:
                return False
            if self.signals_ready:
                try:
                    news = os.read(self.ready_read, 64)
                except BlockingIOError:
                    news = b""
                if b"1" in news:
                    if self.warm is not None and self.warm.parked is None:
                        self.warm.want()
                    return True
                if b"0" in news:
                    return False
            elif claims.accepts(self.plan.host, self.plan.port):
                return True
            time.sleep(0.005)
        return False

    @property
    def reload_in_place(self) -> Callable[[Process], bool] | None:
        adapter = self.plan.adapter
        if adapter is None or not adapter.reloads_in_place:
            return None

        def reload(child) -> bool:
            self._drain()
            return adapter.reload_in_place(child.pid)

        return reload

    def crashed(self, child, code: int) -> None:
        """Answer every request with why the app stopped (what warp's loader wrote, else the exit code) until the next change."""
        marker = self.plan.import_marker
        try:
            text = marker.read_text(errors="replace") if marker is not None else ""
        except OSError:
            text = ""
        text = text or f"{self.plan.server or self.plan.mode} exited with code {code}: its output is in warp's terminal."
        sock = self.sock
        if sock is None:
            try:
                sock = claims.bind_socket(self.plan.host, self.plan.port)
                sock.listen(128)
            except Exception:  # noqa: BLE001  (the port is someone else's now: the terminal still says why)
                return
        self.error_page.start(sock, text, own=sock is not self.sock)

    def close(self) -> None:
        self.error_page.stop()
        if self.warm is not None:
            self.warm.close()
        os.close(self.ready_read)
        os.close(self.ready_write)

    def _drain(self) -> None:
        try:
            while os.read(self.ready_read, 4096):
                pass
        except BlockingIOError:
            pass


class ErrorPage:
    """While the app cannot load under --reload, the port answers every request with a 500 page showing why, which
    reloads itself every second, so the browser shows the app again after the save that fixes it (as runserver and
    the front-end dev servers do). Never outside --reload."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.done = threading.Event()
        self.sock: socket.socket | None = None
        self.own = False

    def start(self, sock: socket.socket, text: str, own: bool) -> None:
        self.stop()
        self.done = threading.Event()
        self.sock, self.own = sock, own
        body = make_error_page(text).encode()
        self.thread = threading.Thread(target=self._serve, args=(sock, body, self.done), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is None:
            return
        self.done.set()
        self.thread.join(timeout=5)
        self.thread = None
        if self.own and self.sock is not None:
            self.sock.close()
        self.sock = None

    @staticmethod
    def _serve(sock: socket.socket, body: bytes, done: threading.Event) -> None:
        import select

        head = (
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        ).encode()
        while not done.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], 0.1)
                if not ready:
                    continue
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(2)
                    conn.recv(65536)
                    conn.sendall(head + body)
                except OSError:
                    pass


def make_error_page(text: str) -> str:
    import html

    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"1\">"
        "<title>warp: the application cannot load</title></head>\n"
        "<body style=\"font-family: sans-serif; margin: 2em\"><h1>The application cannot load</h1>\n"
        "<p>warp start --reload shows this until a save loads it again; this page reloads itself.</p>\n"
        f"<pre style=\"background: #fee; padding: 1em; white-space: pre-wrap\">{html.escape(text)}</pre>\n</body></html>\n"
    )

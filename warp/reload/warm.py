"""--reload's warm path: a parked process in the app's interpreter forks each new server.

The parked process (hooks/warm_parent.py) has imported the server and the
installed modules the app's processes report loading, and none of the
project's code; a fork of it imports only the project. warp starts one after
the first server is up, asks it for each new server while nothing it depends
on has changed, and otherwise starts the server in a new interpreter as
before, saying once why. What it depends on: the interpreter, the env's build
(its record and its site-packages directories) and the environment; for a Django
project whose plan says so (plan.warm_django) it has also run django.setup(), and
then depends on the project's files that the setup read (settings, app configs,
models), which the parked process checks itself before each fork.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from warp import proc

#: Seconds the parked process has to answer a fork (it may be parking newly reported modules).
FORK_TIMEOUT = 10.0
#: Seconds a stopped parked process gets before its group is killed.
STOP_GRACE = 2.0


def scan_stamp(python: Path, record: Path, paths: Sequence[str]) -> tuple:
    """What a parked process depends on, as file facts: the interpreter, the build record, site-packages."""
    stamp = []
    for path in (Path(os.path.realpath(python)), record, *map(Path, paths)):
        try:
            info = path.stat()
        except OSError:
            stamp.append((str(path), None))
            continue
        stamp.append((str(path), info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(stamp)


def read_rss(pid: int) -> int | None:
    """Resident memory of ``pid`` in bytes (Linux), None when unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class StaleModule(OSError):
    """A module the parked process imported changed on disk since."""


class StaleProject(OSError):
    """A file of the project that the parked process read (Django's setup) changed on disk since."""


class WarmChild:
    """A server forked by the parked process: warp is not its parent, so its exit comes from the parked process."""

    warm = True

    def __init__(self, pid: int, parked: "Parked") -> None:
        self.pid, self.parked = pid, parked

    def poll(self) -> int | None:
        self.parked.pump()
        if self.pid in self.parked.exits:
            return self.parked.exits[self.pid]
        if self.parked.poll() is not None and not proc.is_running(self.pid):
            return -signal.SIGTERM  # its parent is gone, and with it the exit status
        return None


@dataclass
class Parked:
    """One parked process, and what it has said on its answer pipe."""

    popen: object
    control: int
    answers: int
    environ: dict[str, str]
    ready: dict | None = None
    broken: str | None = None
    exits: dict[int, int] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)
    buffer: bytes = b""
    closed: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def pump(self) -> None:
        """Read what the parked process said since the last look."""
        while not self.closed:
            try:
                chunk = os.read(self.answers, 65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                break
            self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            word, _, rest = line.decode("utf-8", "replace").partition(" ")
            if word == "ready":
                self.ready = json.loads(rest)
            elif word == "exited":
                pid, code = rest.split()
                self.exits[int(pid)] = int(code)
            elif word == "broken":
                self.broken = rest
            elif word in ("started", "refused"):
                self.replies.append(line.decode("utf-8", "replace"))

    def fork(self, argv: Sequence[str], cwd: Path, environ: Mapping[str, str], timeout: float = FORK_TIMEOUT) -> int:
        """The pid of a new server forked from the parked process; OSError saying why when there is none."""
        request = json.dumps({"argv": list(argv), "cwd": str(cwd), "environ": dict(environ)})
        self.replies.clear()
        os.write(self.control, f"fork {request}\n".encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            if self.replies:
                word, _, rest = self.replies.pop(0).partition(" ")
                if word == "started":
                    return int(rest)
                if rest.startswith("stale "):
                    raise StaleModule(rest[len("stale "):])
                if rest.startswith("project "):
                    raise StaleProject(rest[len("project "):].rpartition(" changed since ")[0])
                raise OSError(rest)
            if self.poll() is not None:
                raise OSError(self.broken or f"it exited with code {self.poll()}")
            time.sleep(0.002)
        raise OSError(f"it did not answer within {timeout:g}s")

    def stop(self) -> None:
        try:
            os.write(self.control, b"stop\n")
        except OSError:
            pass
        deadline = time.monotonic() + STOP_GRACE
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.signal_group(self.pid, signal.SIGKILL)
        self.popen.poll()
        self.pump()  # the exits it reported last
        self.closed = True
        for fd in (self.control, self.answers):
            os.close(fd)


class WarmParent:
    """Keeps a parked process for the plan's server and forks new servers from it while nothing it depends on changed.

    ``report`` gets each line for the user: when a parked process is ready, and once why a change
    starts the server in a new interpreter instead.
    """

    def __init__(self, python: Path, hooks_dir: Path, record: Path, modules_file: Path, report: Callable[[str], None]) -> None:
        self.python, self.hooks_dir, self.record, self.modules_file = python, hooks_dir, record, modules_file
        self.report = report
        self.parked: Parked | None = None
        self.cwd: Path | None = None
        self.stamp: tuple | None = None
        self.started_stamp: tuple | None = None
        self.said: str | None = None
        self.wanted = False
        #: Why no parked process is started again in this session (one failed by itself).
        self.given_up: str | None = None

    def want(self) -> None:
        """A server is up: a parked process may be started (on the next ``tick``)."""
        self.wanted = self.given_up is None

    def start(self, plan, environ: Mapping[str, str], fds: Sequence[int], sources: Sequence[Path]) -> None:
        control_read, control_write = os.pipe()
        answers_read, answers_write = os.pipe()
        os.set_blocking(answers_read, False)
        argv = [
            str(self.python), str(self.hooks_dir / "warm_parent.py"),
            "--control", str(control_read), "--answer", str(answers_write), "--modules", str(self.modules_file),
            *[arg for source in sources for arg in ("--source", str(source))],
            *[arg for name in plan.adapter.warm_imports for arg in ("--import", name)],
            *(["--django"] if getattr(plan, "warm_django", None) else []),
        ]
        try:
            popen = proc.spawn(argv, env=environ, cwd=plan.cwd, pass_fds=(*fds, control_read, answers_write))
        except Exception as exc:  # noqa: BLE001  (any failure here only means the full restart)
            for fd in (control_read, control_write, answers_read, answers_write):
                os.close(fd)
            self.give_up(f"it did not start ({exc})")
            return
        os.close(control_read)
        os.close(answers_write)
        self.parked = Parked(popen, control_write, answers_read, dict(environ))
        self.cwd = plan.cwd
        self.stamp = None
        self.started_stamp = scan_stamp(self.python, self.record, ())
        self.wanted = False

    def tick(self) -> None:
        """Between changes: read what the parked process said; a dead one is forgotten (said once)."""
        parked = self.parked
        if parked is None:
            return
        was_ready = parked.ready is not None
        parked.pump()
        if parked.poll() is not None:
            self.give_up(parked.broken or f"it exited with code {parked.poll()}")
            return
        if parked.ready is not None and not was_ready:
            self.stamp = scan_stamp(self.python, self.record, self.site_packages(parked))
            if self.stamp[:2] != self.started_stamp:
                self.discard("the interpreter or the installed packages changed (a build)")  # while it was importing
                return
            rss = read_rss(parked.pid)
            memory = f", {rss / 2**20:.0f} MB resident, shared with each server it forks" if rss else ""
            django = ""
            if parked.ready.get("django"):
                django = f"; Django set up with {parked.ready['django']}"
            elif parked.ready.get("django_why"):
                django = f"; Django left to each server: {parked.ready['django_why']}"
            self.report(f" -----> Parked {parked.ready.get('modules', 0)} modules for warm reloads (pid {parked.pid}{memory}){django}")

    @staticmethod
    def site_packages(parked: Parked) -> list[str]:
        paths = parked.ready.get("paths", {}) if parked.ready else {}
        return sorted({paths[key] for key in ("purelib", "platlib") if paths.get(key)})

    def find_why_not(self, environ: Mapping[str, str]) -> str | None:
        """Why the next server cannot be forked from the parked process; None: it can."""
        parked = self.parked
        if parked is not None and parked.ready is None and scan_stamp(self.python, self.record, ()) != self.started_stamp:
            return "the interpreter or the installed packages changed (a build)"
        if parked is None or parked.ready is None:
            return ""  # none yet, or still importing: nothing to say
        if parked.poll() is not None:
            self.give_up(parked.broken or f"it exited with code {parked.poll()}")
            return ""
        if dict(environ) != parked.environ:
            return "the environment changed"
        if scan_stamp(self.python, self.record, self.site_packages(parked)) != self.stamp:
            return "the interpreter or the installed packages changed (a build)"
        return None

    def fork(self, argv: Sequence[str], cwd: Path, environ: Mapping[str, str]):
        """A WarmChild, or None after saying why the server must start in a new interpreter."""
        why = self.find_why_not(environ)
        if why is None:
            try:
                return WarmChild(self.parked.fork(argv, cwd, environ), self.parked)
            except StaleModule as exc:
                why = f"an installed module changed: {exc}"
            except StaleProject as exc:
                why = f"{self.show(str(exc))} changed, which Django's setup in the parked process read"
            except OSError as exc:
                self.give_up(f"it could not fork the server ({exc})")
                return None
        if why:
            self.discard(why)  # a new one is started once the new server is up
        return None

    def give_up(self, why: str) -> None:
        """A parked process failed by itself: full restarts for the rest of the session, said once."""
        self.given_up = why
        self.wanted = False
        self.say(f" -----> Full restarts from now on: the parked process failed: {why}")
        if self.parked is not None:
            self.parked.stop()
            self.parked = None

    def discard(self, why: str) -> None:
        """Stop the parked process, saying once why the next servers start in a new interpreter."""
        self.say(f" -----> Full restarts until a new parked process is ready: {why}")
        if self.parked is not None:
            self.parked.stop()
            self.parked = None

    def show(self, path: str) -> str:
        """``path`` relative to the app's directory when it is in it; a directory (ending in /) as the list of its modules."""
        shown = path
        if self.cwd is not None and Path(path).is_relative_to(os.path.realpath(self.cwd)):
            shown = os.path.relpath(path, os.path.realpath(self.cwd))
        return f"the list of modules in {shown.rstrip(os.sep)}{os.sep}" if path.endswith(os.sep) else shown

    def say(self, line: str) -> None:
        if line != self.said:
            self.said = line
            self.report(line)

    def close(self) -> None:
        if self.parked is not None:
            self.parked.stop()
            self.parked = None

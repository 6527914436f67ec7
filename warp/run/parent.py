"""warp as the small parent of a production server whose own SIGTERM is not graceful (uWSGI, mod_wsgi's Apache).

warp turns SIGTERM and SIGINT into the server's graceful stop (a FIFO command or another signal), SIGHUP into
its graceful reload, and returns its exit code. The --reload parent, which does much more, is warp.reload.loop.
"""

from __future__ import annotations

import os
import signal
import time

from warp import proc
from warp.errors import StepFailed

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time: see the module's docstring
    from typing import Callable

    from warp.plan import StartPlan
    from warp.servers import Stop


def graceful_stop(stop: Stop, pid: int) -> None:
    """Ask the server in process group ``pid`` to stop as its adapter says: a FIFO command or a signal."""
    if stop.kind == "fifo":
        if not write_fifo(stop.path, stop.command):
            proc.signal_group(pid, signal.SIGINT)  # no FIFO yet (still starting): stop it with a signal
        return
    if stop.group:
        proc.signal_group(pid, getattr(signal, stop.signal or "SIGTERM"))
    else:
        proc.signal_process(pid, getattr(signal, stop.signal or "SIGTERM"))


def reload(stop: Stop, pid: int) -> None:
    """Ask the server ``pid`` to reload its app as its adapter says: a signal to its main process, or to those of its
    processes named by ``stop.reload_processes``."""
    sig = getattr(signal, stop.reload)
    for target in proc.find_descendants_named(pid, stop.reload_processes) if stop.reload_processes else [pid]:
        proc.signal_process(target, sig)


def write_fifo(path: str | os.PathLike, command: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(fd, command.encode())
    finally:
        os.close(fd)
    return True


def exit_code(code: int) -> int:
    """A child's return code as a shell shows it: 128+n for a signal n."""
    return 128 - code if code < 0 else code


class SignalFlag:
    def __init__(self) -> None:
        self.signals: list[int] = []

    def __call__(self, signum, frame) -> None:  # only records; acted on in the loop
        self.signals.append(signum)


def run(plan: StartPlan, report, *, started: Callable[[], None] = lambda: None, why_exited: Callable[[int], str] | None = None) -> int:
    """Run the plan's server as a child, turn SIGTERM/SIGINT into its graceful stop and SIGHUP into its reload,
    return its exit code.

    With ``why_exited``, a child that exits before its port accepts is an error whose message that gives.
    """
    flag = SignalFlag()
    previous = {sig: signal.signal(sig, flag) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    for marker in (plan.failure_marker, plan.import_marker):
        if marker is not None:
            _remove(marker)
    failed_import = reloaded = False
    try:
        child = proc.spawn(plan.argv, env=plan.environ, cwd=plan.cwd)
        started()
        listening = why_exited is None
        deadline = None
        handled = 0
        while True:
            code = child.poll()
            if code is not None:
                break
            if not (failed_import or reloaded) and plan.import_marker is not None and os.path.exists(plan.import_marker):
                # warp's loader showed why; a server that replaces its processes would not stop. (After a reload the
                # old processes go on serving: the new code's error is shown, and the next reload tries again.)
                failed_import = True
                if deadline is None:
                    graceful_stop(plan.stop, child.pid)
                    deadline = time.monotonic() + plan.stop.timeout
            if not listening:
                from warp.run.claims import accepts

                listening = accepts(plan.host, plan.port)
            for signum in flag.signals[handled:]:
                handled += 1
                if signum == signal.SIGHUP:
                    if deadline is None:
                        if plan.import_marker is not None:
                            _remove(plan.import_marker)  # the new code's error, if any, is shown once
                        reloaded = True
                        reload(plan.stop, child.pid)
                elif deadline is None:
                    graceful_stop(plan.stop, child.pid)
                    deadline = time.monotonic() + plan.stop.timeout
                elif signum == signal.SIGINT:
                    proc.signal_group(child.pid, signal.SIGKILL)  # a second Ctrl-C: stop now
            if deadline is not None and time.monotonic() > deadline:
                report(f"warning: {plan.server or plan.mode} did not stop within {plan.stop.timeout:g}s; killing it")
                proc.signal_group(child.pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)
        proc.signal_group(child.pid, signal.SIGKILL)  # leftovers of the process group, if any
        if failed_import or (not reloaded and plan.import_marker is not None and os.path.exists(plan.import_marker)):
            return APP_FAILED
        if not listening and deadline is None:
            raise StepFailed(why_exited(code), hint=EARLY_EXIT_HINT, returncode=exit_code(code) or 1)
        if plan.failure_marker is not None and os.path.exists(plan.failure_marker):
            raise StepFailed(f"the application failed to start: {plan.server} stopped (its lifespan startup failed)",
                             hint=STARTUP_FAILED_HINT, returncode=3)
        if deadline is not None and code in (0, -signal.SIGWINCH, -signal.SIGTERM):
            return 0
        return exit_code(code)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


#: warp's exit code when the server could not load the app (warp's loader said why).
APP_FAILED = 1
EARLY_EXIT_HINT = "the app must keep running and listen on $PORT; see its output above"
STARTUP_FAILED_HINT = "fix what the application's startup raised (its traceback is above) and start again"


def _remove(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

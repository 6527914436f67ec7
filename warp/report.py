"""How a command reports: the callable every step prints through, and a long step shown as it works."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable

Report = Callable[[str], None]
#: A step still running after this many seconds shows that it is working, on a terminal (see working).
SHOW_AFTER = 1.5


@contextmanager
def working(report: Report, doing: str, done: str | None = None, *, after: float = 0.0):
    """A long step: ``doing`` says what it does, ``done`` (formatted with ``seconds``) that it finished.

    A report that can show it live does (the command line's, on a terminal: see cli.Reporter), from ``after``
    seconds on; any other gets the two as plain lines. Without ``done`` the step is shown only live (its
    ` -----> ` line already says what it does), and the live line goes when it ends. A step that fails gets no ``done``.
    """
    live = getattr(report, "working", None)
    if live is not None:
        with live(doing, done, after=after):
            yield
        return
    started = time.monotonic()
    if done is not None:
        report(doing)
    yield
    if done is not None:
        report(done.format(seconds=time.monotonic() - started))

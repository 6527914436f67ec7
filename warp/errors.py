"""The one error family warp raises; cli.py renders it once.

Every error carries an exit code and a hint: the one line that tells the user
what to do next.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager


class WarpError(Exception):
    """A user-facing failure. Never shown with a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: Output of the failing command, shown before the error line.
        self.detail = detail

    def render(self) -> str:
        """The error as the command line prints it: the command's output, the `error:` line, the hint."""
        lines = [self.detail.rstrip()] if self.detail else []
        lines.append(f"error: {self.message}")
        if self.hint:
            lines.append(f"       {self.hint}")
        return "\n".join(lines)


class UsageError(WarpError):
    """The command line or the project's settings are wrong."""

    exit_code = 2


class StepFailed(WarpError):
    """A build or start step ran and failed."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", detail: str = "", returncode: int | None = None) -> None:
        super().__init__(message, hint, detail)
        #: The failed command's own exit code, when it ran.
        self.returncode = returncode


class EnvError(WarpError):
    """An environment is missing, broken, or cannot be used."""

    exit_code = 1


class NoAppFound(UsageError):
    """Entry point detection found nothing to run."""


class DiskFull(WarpError):
    """No space was left (or the disk quota was used up) where warp, or a command it ran, had to write."""

    exit_code = 1


DISK_FULL = "the disk is full"
DISK_FULL_HINT = "free some space on that disk (see `df -h`) and run the command again; the next build repairs what a stopped one left"


def make_disk_full(exc: OSError, writing: str | os.PathLike | None = None) -> DiskFull | None:
    """A full disk met by warp's own writes (to ``writing``, else the file the error names), said so that the user
    can act on it; None for any other OSError."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    what = "the disk quota is used up" if exc.errno == errno.EDQUOT else DISK_FULL
    where = writing or exc.filename
    return DiskFull(f"{what}: cannot write {where}" if where else f"{what} ({exc.strerror})", hint=DISK_FULL_HINT)


@contextmanager
def disk_full_as_error(writing: str | os.PathLike | None = None):
    """Raise a full disk met inside the block as DiskFull (naming ``writing`` when given); any other OSError as it is."""
    try:
        yield
    except OSError as exc:
        error = make_disk_full(exc, writing)
        if error is None:
            raise
        raise error from None

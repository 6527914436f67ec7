"""The one error family warp raises; cli.py renders it once.

Every error carries an exit code and a hint: the one line that tells the user
what to do next.
"""

from __future__ import annotations


class WarpError(Exception):
    """A user-facing failure. Never shown with a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: Output of the failing command, shown before the error line.
        self.detail = detail


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

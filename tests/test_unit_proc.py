"""warp.proc's pure helpers: reading a hook's answer, and explaining a command that cannot start."""

from __future__ import annotations

import errno

import pytest

from warp.proc import cannot_start, find_json_answer, is_unreachable


@pytest.mark.parametrize(
    "stdout, answer",
    [
        ('{"ok": true}\n', {"ok": True}),
        ('app says hello\n{"ok": true}\n', {"ok": True}),
        ('{"ok": true}\nprinted by the app at exit\n', {"ok": True}),
        ("[1, 2]\n", None),
        ("", None),
    ],
)
def test_find_json_answer_skips_what_the_app_prints(stdout, answer):
    assert find_json_answer(stdout) == answer


@pytest.mark.parametrize(
    "exc, message, hint",
    [
        (FileNotFoundError(errno.ENOENT, "No such file"), "step: command not found: /x/hook", "install it"),
        (OSError(errno.ENOEXEC, "Exec format error"), "step: cannot execute /x/hook: it is not a program", "start the script with a #! line, e.g. #!/bin/sh"),
        (PermissionError(errno.EACCES, "Permission denied"), "step: cannot execute /x/hook", "make it executable (chmod +x)"),
        (OSError(errno.E2BIG, "Argument list too long"), "step: cannot run /x/hook (Argument list too long)", "check the command and its interpreter"),
    ],
)
def test_cannot_start_says_why(exc, message, hint):
    error = cannot_start(exc, ["/x/hook"], "step: ", "install it")
    assert (error.message, error.hint) == (message, hint)


@pytest.mark.parametrize(
    "output, unreachable",
    [
        ("error: Failed to fetch ...\n  cause: Connection refused (os error 111)", True),
        ("WARNING: Retrying ... NewConnectionError: Failed to establish a new connection: [Errno 111]", True),
        ("Temporary failure in name resolution", True),
        ("No solution found when resolving dependencies: Because nosuch was not found in the package registry", False),
    ],
)
def test_is_unreachable_tells_network_failures_from_missing_packages(output, unreachable):
    assert is_unreachable(output) == unreachable

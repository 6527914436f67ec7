"""The only module that starts processes: run, run a hook for JSON, probe, spawn, exec; and signals their groups
and reads the process table.

re and json are imported where they are used, and the typing names only for type checking.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import subprocess
import sys

from warp.errors import DISK_FULL, DISK_FULL_HINT, StepFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Callable, Mapping, Sequence


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    step: str,
    capture: bool = True,
    hint: str = "",
) -> str:
    """Run a command to completion; raise StepFailed naming ``step`` if it fails.

    With ``capture`` the output is collected and shown only when the command
    fails (installers are chatty); without it, it goes straight to the terminal.
    """
    try:
        result = subprocess.run(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise cannot_start(exc, argv, f"{step}: ", hint or "check that it is installed") from None
    if result.returncode != 0:
        output = result.stdout or ""
        hint = (is_unreachable(output) and UNREACHABLE_HINT) or hint or "fix the problem shown above and run the command again"
        raise make_step_failed(step, result.returncode, output, hint, detail=output if capture else "")
    return result.stdout or ""


def run_shown(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, step: str, show, hint: str = "") -> str:
    """Run a command to completion, each line of its output handed to ``show`` as it comes, and return the output.

    A failure raises StepFailed with the output as its detail, for the caller to read.
    """
    try:
        child = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise cannot_start(exc, argv, f"{step}: ", hint or "check that it is installed") from None
    lines = []
    with child:
        for line in child.stdout:
            lines.append(line)
            show(line.rstrip("\n"))
    output = "".join(lines)
    if child.returncode != 0:
        raise make_step_failed(step, child.returncode, output, hint or "fix the problem shown above and run the command again", detail=output)
    return output


def make_step_failed(step: str, returncode: int, output: str, hint: str, detail: str) -> StepFailed:
    """A command that ran and failed; when its output says the disk is full, the error says so and what to do."""
    if is_disk_full(output):
        return StepFailed(f"{step} failed: {DISK_FULL}", hint=DISK_FULL_HINT, detail=detail, returncode=returncode)
    return StepFailed(f"{step} failed (exit code {returncode})", hint=hint, detail=detail, returncode=returncode)


UNREACHABLE_HINT = (
    "the package index could not be reached: check the network and PIP_INDEX_URL / UV_INDEX_URL, "
    "or build offline from a wheelhouse (`warp wheels`, then `warp build --offline`)"
)
_DISK_FULL = r"No space left on device|Disk quota exceeded"
_UNREACHABLE = (
    r"Connection refused|Failed to establish a new connection|Name or service not known|"
    r"Temporary failure in name resolution|Network is unreachable|No route to host|tcp connect error"
)


def is_unreachable(output: str) -> bool:
    """The installer's output says the index could not be reached (pip and uv word it differently)."""
    import re

    return re.search(_UNREACHABLE, output) is not None


def is_disk_full(output: str) -> bool:
    """The output says a write failed for want of space (ENOSPC, EDQUOT), in the words of the C library."""
    import re

    return re.search(_DISK_FULL, output) is not None


def run_json(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, step: str, hint: str = "") -> dict:
    """Run a hooks/ script in the app's interpreter and read its one JSON object."""
    try:
        result = subprocess.run(
            list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace"
        )
    except OSError as exc:  # the env's python is gone or broken (its base interpreter was removed, say)
        raise cannot_start(exc, argv, f"{step}: ", "rebuild the env: `warp destroy NAME --yes`, then `warp build`") from None
    if result.returncode != 0:
        hint = hint or "fix the problem shown above and run the command again"
        raise make_step_failed(step, result.returncode, result.stderr, hint, detail=result.stderr.strip())
    answer = find_json_answer(result.stdout)
    if answer is None:
        raise StepFailed(
            f"{step} printed no result",
            hint="this is a bug in warp; please report it with the output above",
            detail=(result.stdout + result.stderr).strip(),
        )
    return answer


def run_probe(argv: Sequence[str], *, timeout: float = 10) -> str | None:
    """Run a short query (an interpreter's version, say): its output, or None if it cannot start, fails or hangs."""
    try:
        result = subprocess.run(
            list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def find_json_answer(stdout: str) -> dict | None:
    """The hook's one JSON object: the last line that is one (the app may print around it, even at exit)."""
    import json

    for line in reversed(stdout.splitlines()):
        try:
            answer = json.loads(line)
        except ValueError:
            continue
        if isinstance(answer, dict):
            return answer
    return None


def run_hook(path: Path, *, env: Mapping[str, str], cwd: Path, step: str) -> None:
    """Run a user's action hook with its output on the terminal."""
    run([str(path)], env=env, cwd=cwd, step=step, capture=False, hint=f"fix {path} and run the command again")


@functools.cache
def find_prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux, else None; looked up once in warp rather than in each child: a child that imported
    ctypes itself spent about 3 ms between its fork and its exec, on every restart under --reload."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None


def _own_group(prctl: Callable[..., int] | None) -> None:
    """In the child: a process group of its own; on Linux, SIGTERM if warp itself dies, so no server is orphaned."""
    os.setpgid(0, 0)
    if prctl is not None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, pass_fds: Sequence[int] = (), **streams) -> subprocess.Popen:
    """Start a long-running child in a process group of its own, in warp's session.

    Its own group: warp's stop reaches every process of the server, and the terminal's Ctrl-C reaches warp alone,
    which stops the server gracefully. warp's session: on Linux a new session is also a new scheduling autogroup,
    whose processes together get one share of the CPUs against every other session's; a server with several
    processes would then get about one CPU whenever anything else in the caller's session is busy. In warp's
    session it is scheduled process by process, as a server warp execs is.
    The child is stopped (SIGTERM) if warp is killed without a chance to stop it. ``streams``: Popen's stdin,
    stdout and stderr (warp.run.multirun reads each child's output).
    """
    try:
        prctl = find_prctl()
        return subprocess.Popen(list(argv), env=dict(env), cwd=cwd, pass_fds=tuple(pass_fds), preexec_fn=lambda: _own_group(prctl),
                                **streams)
    except OSError as exc:
        raise cannot_start(exc, argv, "", "run `warp build` to install the server") from None


def exec_(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> None:
    """Replace warp with ``argv`` so that signals and the exit code reach it directly."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(cwd)
    try:
        os.execvpe(argv[0], list(argv), dict(env))
    except OSError as exc:
        raise cannot_start(exc, argv, "", "run `warp build` to install the server") from None


def cannot_start(exc: OSError, argv: Sequence[str], prefix: str, missing_hint: str) -> StepFailed:
    """Why a command did not even start, said so that the user can act on it."""
    if isinstance(exc, FileNotFoundError):
        return StepFailed(f"{prefix}command not found: {argv[0]}", hint=missing_hint)
    if exc.errno == errno.ENOEXEC:  # an executable script without a #! line
        return StepFailed(f"{prefix}cannot execute {argv[0]}: it is not a program", hint="start the script with a #! line, e.g. #!/bin/sh")
    if isinstance(exc, PermissionError):
        return StepFailed(f"{prefix}cannot execute {argv[0]}", hint="make it executable (chmod +x)")
    return StepFailed(f"{prefix}cannot run {argv[0]} ({exc.strerror})", hint="check the command and its interpreter")


def signal_group(pgid: int, sig: int) -> None:
    """Signal a process group that may already be gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def signal_process(pid: int, sig: int) -> None:
    """Signal one process that may already be gone."""
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# ---------------------------------------------------------------- the process table (Linux /proc)


def scan_process_table() -> dict[int, tuple[str, int, int]]:
    """pid -> (state, parent pid, process group) for every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        table[int(entry.name)] = (fields[0], int(fields[1]), int(fields[2]))
    return table


def find_descendants(pid: int, table: dict[int, tuple[str, int, int]] | None = None) -> set[int]:
    """Every process below ``pid``."""
    children: dict[int, list[int]] = {}
    for child, (_, parent, _) in (table or scan_process_table()).items():
        children.setdefault(parent, []).append(child)
    found, pending = set(), [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def find_descendants_named(pid: int, prefix: str) -> list[int]:
    """The processes below ``pid`` whose command line starts with ``prefix`` (as a process may set its own)."""
    found = []
    for child in find_descendants(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as handle:
                if handle.read().startswith(prefix.encode()):
                    found.append(child)
        except OSError:
            continue
    return found


def is_running(pid: int) -> bool:
    """True for a live process (a zombie is not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def is_group_running(pgid: int) -> bool:
    """True while any process of the group is alive (zombies do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(group == pgid and state != "Z" for state, _, group in scan_process_table().values())

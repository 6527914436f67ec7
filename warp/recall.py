"""`warp activate`, `warp list` and `warp env` said again: their output, when nothing they read has changed.

People put `eval "$(warp activate)"` in their shell's start-up, so these commands must cost little more than a
Python start-up. Each keeps what it printed under ``$WARP_HOME/said/`` with a digest of what it read
(warp.quickstart.make_key): its arguments, directory and environment, warp itself, and every env's metadata and
python; `warp env` also the project, its env and the machine's facts, as a start reads them. The next run with
the same arguments computes that digest before it imports click or anything else heavy and, when it matches,
prints the same lines and exits.

Not kept: a command that made or changed anything (a new env, another Python), `warp activate --python`
(it may run an interpreter), and `warp env --show-secrets` (its output holds the values of ``.warp/environment``,
which warp copies nowhere the user did not ask).
"""

from __future__ import annotations

import marshal
import os
import sys

from warp import quickstart

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time: see the module's docstring
    from typing import Mapping, Sequence

#: The commands said again, and the record's layout.
RECALLED = ("activate", "list", "env")
FORMAT = 1
#: What such a command may have said on stderr and be said again; anything else (it created an env) is not kept.
SAID = (" -----> Using env ", "warning: ", "no envs yet")


#: The variables `warp activate` and `warp list` read (warp.settings.find_warp_home: WARP_HOME, else HOME's ~/.warp),
#: the only ones their digest takes: a new terminal's own (SHLVL, OLDPWD, WINDOWID) do not make them run again.
#: `warp env` prints what differs from the whole environment: its digest takes all of it.
READS = {"activate": ("WARP_HOME", "HOME", "PATH", "VIRTUAL_ENV", "SHELL"), "list": ("WARP_HOME", "HOME")}


def scan_key(argv: Sequence[str], cwd: str, environ: Mapping[str, str], watch: Mapping | None, envs: Mapping[str, list]) -> str:
    if argv[0] in READS:
        environ = {key: environ[key] for key in READS[argv[0]] if key in environ}
    if watch is None:
        return quickstart.make_key(argv, cwd, environ, None, quickstart.scan_every_env(quickstart.find_home(environ), envs))
    return quickstart.make_key(argv, cwd, environ, watch, envs)


def replay(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """Print what the same command printed last time and exit, when nothing it read has changed; else return."""
    try:
        cwd = os.getcwd()
        record = quickstart.read_record(quickstart.record_path(environ, cwd, argv, "said"), FORMAT)
        if record is None:
            return
        envs = quickstart.scan_envs(quickstart.find_home(environ), record["envs"])
        if scan_key(argv, cwd, environ, record["watch"], envs) != record["key"]:
            return
        lines, out = record["lines"], record["out"]
    except quickstart.UNREADABLE:
        return
    for line in lines:
        print(line, file=sys.stderr)
    sys.stdout.write(out)
    sys.exit(0)


class Recorder:
    """Taken before such a command reads anything (or, for `warp env`, once it found its env: ``ctx``)."""

    def __init__(self, argv: Sequence[str], environ: Mapping[str, str], ctx=None) -> None:
        self.argv, self.cwd, self.environ = list(argv), os.getcwd(), dict(environ)
        self.looked_up = bool(argv) and argv[0] in RECALLED  # `warp -q list` never is: nothing to digest or keep
        if self.looked_up:
            self.watch = quickstart.watch_of(ctx) if ctx is not None else None
            self.envs = quickstart.scan_envs(quickstart.find_home(environ), {})
            self.key = scan_key(self.argv, self.cwd, self.environ, self.watch, self.envs)

    def keep(self, out: str, lines: Sequence[str]) -> None:
        """Keep ``out`` and ``lines`` for the next run when it would read all of this the same."""
        if not self.looked_up:
            return
        path = quickstart.record_path(self.environ, self.cwd, self.argv, "said")
        envs = quickstart.scan_envs(quickstart.find_home(self.environ), self.envs)
        if all(line.startswith(SAID) for line in lines) and scan_key(self.argv, self.cwd, self.environ, self.watch, envs) == self.key:
            from warp.learned import write_atomic

            record = {"format": FORMAT, "key": self.key, "watch": self.watch, "envs": self.envs, "lines": list(lines), "out": out}
            write_atomic(path, marshal.dumps(record), mode=0o600)
        else:
            quickstart.forget(path)

"""The app's processes: web, workers, a scheduler and the release step, from one declaration (pure).

A project declares its process types in a Procfile (Heroku's format: ``TYPE: command`` lines, which honcho,
foreman, Dokku and Heroku read) or in ``[tool.warp.processes]``. Without a declaration, ``web`` is warp's own
start plan; a declared ``web`` runs as written, as Heroku runs it. ``release`` is the step run once per deploy
before new web processes take traffic; a Django project with no declared release gets ``warp migrate`` when it
opts in with ``[tool.warp] release = "migrate"``.

Nothing here reads files or the environment: the caller passes the Procfile's text and the tables.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any, Mapping

from warp.errors import UsageError

#: What a process type may be called (Heroku's and honcho's rule).
TYPE_NAME = re.compile(r"[A-Za-z0-9_-]+")
TYPE_NAME_RULE = "letters, digits, _ and - only"
PROCFILE = "Procfile"
#: `warp start all`: every type but the release step, which runs once with `warp release`.
ALL = "all"
RELEASE = "release"
WEB = "web"
#: The shell a declared command runs in, as honcho runs it (Heroku's is bash).
SHELL = "/bin/sh"
#: The only release step warp knows without a declaration.
RELEASE_DEFAULTS = ("migrate",)

#: How a process runs: a declared shell command, warp's own start plan (web), or `warp migrate` (release).
DECLARED, WARP_WEB, WARP_MIGRATE = "declared", "warp-web", "warp-migrate"


@dataclass(frozen=True)
class Process:
    name: str
    kind: str
    #: The shell command as declared (for the other kinds, the warp command that runs it, for display).
    command: str
    #: Where it came from, for `warp plan`: "Procfile line 2", "[tool.warp.processes] worker", ... (for warp's own
    #: web, why there is no declaration: "no web in Procfile")
    source: str
    count: int = 1
    count_source: str = "default"

    @property
    def is_declared(self) -> bool:
        return self.kind == DECLARED


@dataclass(frozen=True)
class ProcessPlan:
    processes: tuple[Process, ...]
    #: Where the declaration is ("Procfile", "[tool.warp.processes]"), or "" when there is none.
    declared_in: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(process.name for process in self.processes)

    def get(self, name: str) -> Process | None:
        return next((process for process in self.processes if process.name == name), None)

    @property
    def web(self) -> Process:
        return self.get(WEB)

    @property
    def release(self) -> Process | None:
        return self.get(RELEASE)

    @property
    def long_running(self) -> tuple[Process, ...]:
        """Every type but the release step."""
        return tuple(process for process in self.processes if process.name != RELEASE)

    def select(self, names: tuple[str, ...] | list[str]) -> tuple[Process, ...]:
        """The types named on the command line (``all``: every long-running type whose count is not 0), in plan order."""
        if ALL in names:
            if len(names) > 1:
                raise UsageError(f"`{ALL}` names every process type; it goes alone", hint=f"run `warp start {ALL}` or name the types")
            return tuple(process for process in self.long_running if process.count > 0)
        for name in names:
            if name == RELEASE:
                raise UsageError("the release step runs once, not beside the others", hint="run it with `warp release`")
            if self.get(name) is None:
                raise UsageError(f"no process type {name!r}", hint=f"the types are: {', '.join(self.long_running_names)} (or `{ALL}`)")
        return tuple(process for process in self.processes if process.name in names)

    @staticmethod
    def is_warps_web_alone(selected: tuple[Process, ...]) -> bool:
        """Only web is selected and it is warp's own plan: what `warp start` has always run."""
        return len(selected) == 1 and selected[0].name == WEB and selected[0].kind == WARP_WEB

    @property
    def long_running_names(self) -> tuple[str, ...]:
        return tuple(process.name for process in self.long_running)


def parse_procfile(text: str, where: str = PROCFILE) -> list[tuple[str, str, int]]:
    """(type, command, line number) of each ``TYPE: command`` line; blank lines and ``#`` comments are skipped.

    honcho and Heroku pass over a line they cannot read; warp says which line and why, before anything starts.
    """
    found: list[tuple[str, str, int]] = []
    first: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, command = line.partition(":")
        name, command = name.strip(), command.strip()
        if not colon:
            raise UsageError(f"{where} line {number}: {line!r} is not `TYPE: command`",
                             hint=f"write each process as `TYPE: command`, e.g. `worker: celery -A mysite worker` ({where} line {number})")
        check_type_name(name, f"{where} line {number}")
        if not command:
            raise UsageError(f"{where} line {number}: process type {name!r} has no command", hint=f"give it one after the colon, e.g. `{name}: celery -A mysite worker`")
        if name in first:
            raise UsageError(f"{where} line {number}: process type {name!r} is declared again (first on line {first[name]})",
                             hint="each type is declared once; give the second another name")
        first[name] = number
        found.append((name, command, number))
    return found


def check_type_name(name: str, where: str) -> None:
    if not TYPE_NAME.fullmatch(name):
        raise UsageError(f"{where}: {name!r} is not a process type name ({TYPE_NAME_RULE})", hint=f"rename it, e.g. {re.sub(r'[^A-Za-z0-9_-]+', '-', name).strip('-') or 'worker'!r}")


def parse_count(raw: Any, where: str) -> int:
    """A whole number of processes, 0 or more."""
    if isinstance(raw, bool) or not ((isinstance(raw, int) and raw >= 0) or (isinstance(raw, str) and raw.strip().isdigit())):
        raise UsageError(f"{where}: count {raw!r} is not a whole number", hint="give a count of 0 or more, e.g. worker=2")
    return int(raw)


def parse_concurrency(raw: Any, where: str) -> dict[str, int]:
    """``web=2,worker=1`` (honcho's -c, Heroku's formation) or a table ``{web = 2}`` -> {type: count}."""
    counts: dict[str, int] = {}
    if isinstance(raw, Mapping):
        items = [(str(name), value) for name, value in raw.items()]
    elif isinstance(raw, str):
        items = []
        for part in re.split(r"[,\s]+", raw.strip()):
            if not part:
                continue
            name, equals, value = part.partition("=")
            if not equals:
                raise UsageError(f"{where}: {part!r} is not TYPE=COUNT", hint="write the counts as web=2,worker=1")
            items.append((name.strip(), value.strip()))
    else:
        raise UsageError(f"{where} must be TYPE=COUNT pairs, not {raw!r}", hint='write it as "web=2,worker=1"')
    for name, value in items:
        check_type_name(name, where)
        counts[name] = parse_count(value, f"{where} {name}")
    return counts


def parse_process_table(table: Any) -> list[tuple[str, str, int | None]]:
    """``[tool.warp.processes]``: ``TYPE = "command"`` or ``TYPE = {command = "...", count = N}``."""
    where = "[tool.warp.processes]"
    if not isinstance(table, Mapping):
        raise UsageError(f"{where} in pyproject.toml is not a table", hint='write it as [tool.warp.processes] with lines like worker = "celery -A mysite worker"')
    found = []
    for name, value in table.items():
        check_type_name(name, where)
        count = None
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"command", "count"})
            if unknown:
                raise UsageError(f"{where} {name}: unknown key {unknown[0]!r}", hint="a process takes `command` and `count`")
            if "count" in value:
                count = parse_count(value["count"], f"{where} {name}")
            value = value.get("command")
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{where} {name}: process type {name!r} has no command", hint=f'write it as {name} = "celery -A mysite worker"')
        found.append((name, value.strip(), count))
    return found


def make_process_plan(
    *,
    procfile: str | None,
    tool: Mapping[str, Any],
    is_django: bool,
    concurrency: tuple[str, str] | None = None,
) -> ProcessPlan:
    """The process types of a project: its Procfile's text (None when it has none), its ``[tool.warp]`` table,
    whether it is a Django project, and the counts given on the command line (text, where it came from)."""
    table = tool.get("processes")
    if procfile is not None and table is not None:
        raise UsageError("processes are declared in both Procfile and [tool.warp.processes]",
                         hint="keep one declaration: remove the Procfile or the [tool.warp.processes] table")
    declared: list[tuple[str, str, str, int | None]] = []
    declared_in = ""
    if procfile is not None:
        declared_in = PROCFILE
        declared = [(name, command, f"Procfile line {number}", None) for name, command, number in parse_procfile(procfile)]
    elif table is not None:
        declared_in = "[tool.warp.processes]"
        declared = [(name, command, f"[tool.warp.processes] {name}", count) for name, command, count in parse_process_table(table)]
    processes: list[Process] = []
    names = {name for name, *_ in declared}
    if WEB not in names:
        because = f"no web in {declared_in}" if declared_in else "no Procfile or [tool.warp.processes]"
        processes.append(Process(WEB, WARP_WEB, "warp start", because))
    for name, command, source, count in declared:
        if name == ALL:
            raise UsageError(f"{source}: a process type may not be called {ALL!r}: `warp start {ALL}` names every type",
                             hint="give it another name")
        check_not_itself(name, command, source)
        kind = WARP_WEB if name == WEB and is_warp_start(command) else DECLARED
        if count is None:
            processes.append(Process(name, kind, command, source))
        else:
            processes.append(Process(name, kind, command, source, count, source))
    release = find_release_default(tool, is_django, RELEASE in names)
    if release is not None:
        processes.append(release)
    counts = {}
    if "concurrency" in tool:
        counts.update((name, (count, "[tool.warp] concurrency")) for name, count in parse_concurrency(tool["concurrency"], "[tool.warp] concurrency").items())
    if concurrency is not None:
        text, where = concurrency
        counts.update((name, (count, where)) for name, count in parse_concurrency(text, where).items())
    known = {process.name for process in processes}
    for name, (count, where) in counts.items():
        if name not in known:
            raise UsageError(f"{where}: no process type {name!r}", hint=f"the types are: {', '.join(sorted(known))}")
        if name == RELEASE:
            raise UsageError(f"{where}: the release step runs once; it has no count", hint="leave release out of the counts")
    processes = [
        Process(p.name, p.kind, p.command, p.source, counts[p.name][0], counts[p.name][1]) if p.name in counts else p for p in processes
    ]
    return ProcessPlan(tuple(processes), declared_in)


def find_release_default(tool: Mapping[str, Any], is_django: bool, declared: bool) -> Process | None:
    """``[tool.warp] release = "migrate"``: a Django project's release step is `warp migrate`, unless one is declared."""
    value = tool.get("release")
    if value is None:
        return None
    if value not in RELEASE_DEFAULTS:
        raise UsageError(f"[tool.warp] release = {value!r}: warp knows only {', '.join(map(repr, RELEASE_DEFAULTS))}",
                         hint="declare any other release step as `release: COMMAND` in the Procfile")
    if declared:
        return None  # the declaration wins; make_process_plan has it already
    if not is_django:
        raise UsageError('[tool.warp] release = "migrate" needs a Django project (a manage.py that sets DJANGO_SETTINGS_MODULE)',
                         hint="declare the release step as `release: COMMAND` in the Procfile")
    return Process(RELEASE, WARP_MIGRATE, "warp migrate", '[tool.warp] release = "migrate" (Django: the migrate hook, else manage.py migrate --noinput)')


def find_warp_words(command: str) -> list[str] | None:
    """The words after ``warp`` when a declared command runs warp itself (``warp``, ``/path/warp``, ``python -m
    warp``, after an ``exec``), as `warp export procfile` writes them; else None."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words and words[0] == "exec":
        words = words[1:]
    if len(words) >= 3 and words[1:3] == ["-m", "warp"]:
        return words[3:]
    if words and words[0].rsplit("/", 1)[-1] == "warp":
        return words[1:]
    return None


def is_warp_start(command: str) -> bool:
    """A declared command that is itself `warp start` (as `warp export procfile` writes web): warp's own plan.

    Running it through a shell from `warp start` would start `warp start` again, and again.
    """
    words = find_warp_words(command)
    return bool(words) and words[0] == "start"


def check_not_itself(name: str, command: str, where: str) -> None:
    """A type declared as the warp command that runs that very type (`worker: warp start worker`, `release: warp
    release`, as `warp export procfile` writes them) would run itself forever: an error, naming what to declare."""
    words = find_warp_words(command)
    if not words or name == WEB:
        return
    named = [word for word in words[1:] if not word.startswith("-")] if words[0] == "start" else []
    if (words[0] == "release" and name == RELEASE) or (words[0] == "start" and (name in named or ALL in named)):
        raise UsageError(f"{where}: {name} runs `{command}`, which would run this same line again",
                         hint=f"declare {name}'s own command here (e.g. `worker: celery -A mysite worker`); "
                              "the Procfile `warp export procfile` writes is for a platform, not the project's declaration")


def find_program(command: str) -> str | None:
    """The program a declared command runs first, when it is a plain word (not a path, a builtin or shell syntax)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):  # VAR=value before the program
        words = words[1:]
    if words and words[0] == "exec":
        words = words[1:]
    if not words or "/" in words[0] or not re.fullmatch(r"[A-Za-z0-9_.+-]+", words[0]):
        return None
    return words[0]


def is_simple_command(command: str) -> bool:
    """One program with its arguments (quotes, $VARIABLES and redirections allowed): no ;, &&, ||, |, &, ( ),
    newline or VAR=value before the program."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return False
    if not tokens or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[0]):  # VAR=value first: `exec` cannot come before it
        return False
    return "\n" not in command and not any(token and set(token) <= set("();<>|&") and not set(token) <= set("<>") for token in tokens)


def make_shell_argv(command: str) -> tuple[tuple[str, ...], bool]:
    """``sh -c`` for a declared command, and whether a stop signals its whole process group.

    Debian's dash stays the parent of the command it runs, and a SIGTERM would end the shell alone: a simple
    command is run with ``exec``, so that the command gets the signal itself (and Celery's worker finishes its
    tasks, which its pool processes would not if they got one too). A compound command (``a && b``) keeps its
    shell, and a stop signals every process of its group, as honcho and Heroku do.
    """
    if is_simple_command(command):
        return (SHELL, "-c", command if command.startswith("exec ") else f"exec {command}"), False
    return (SHELL, "-c", command), True

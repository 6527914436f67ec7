"""systemd: NAME.service runs `warp start`; with other process types, a unit per type and NAME.target for them all."""

from __future__ import annotations

import re

from warp.config.processes import RELEASE, Process, ProcessPlan
from warp.deploy.base import (
    Deployment,
    File,
    check_utf8,
    describe_stop,
    find_other_types,
    find_runtime_directory,
    find_stop_seconds,
    has_more_than_web,
    make_cannot_express,
    make_header,
    make_service_environment,
    make_type_argv,
)
from warp.plan import StartPlan

#: Runs on this machine, where the plan's host and port (or socket) are fixed, not on a platform that gives $PORT.
PLATFORM = False

#: systemd's C escapes inside a quoted word (systemd.syntax(7), "Quoting").
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _word(word: str, where: str, *, expands: bool = False) -> str:
    """One word of ExecStart= (``expands``: an argument, where systemd expands $VAR, so $ is written $$; not in the
    program's path) or of Environment= (where $ means nothing, systemd.exec(5)): quoted with C escapes when needed;
    % (a specifier) doubled."""
    check_utf8("systemd", where, word)
    word = word.replace("%", "%%")
    if expands:
        word = word.replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", word):
        return word
    escaped = "".join(_ESCAPES.get(c, f"\\x{ord(c):02x}" if ord(c) < 0x20 or ord(c) == 0x7F else c) for c in word)
    return f'"{escaped}"'


def _program(path: str) -> str:
    """ExecStart='s program: a path systemd takes as written but for %, and refuses with a quote, a backslash or a
    control character in it ("Executable name contains special characters")."""
    bad = next((c for c in path if c in "\"'\\" or ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise make_cannot_express("systemd", bad, "the program of ExecStart=", path)
    return _word(path, "ExecStart=")


def _path(path: str, where: str) -> str:
    """A path setting (WorkingDirectory=): systemd reads it as written, quotes and backslashes included, but for
    % specifiers; what a unit file line cannot hold is refused."""
    check_utf8("systemd", where, path)
    for character in ("\n", "\r"):
        if character in path:
            raise make_cannot_express("systemd", character, where, path)
    if path[-1:] in (" ", "\t", "\\"):  # systemd strips trailing blanks; a trailing backslash continues the line
        raise make_cannot_express("systemd", path[-1], where, path, placed=" at the end")
    return path.replace("%", "%%")


def render(plan: StartPlan, dep: Deployment) -> list[File]:
    """A service unit running `warp start`; SIGTERM to warp alone, which stops the server gracefully.

    With other process types, NAME.target wants every unit: NAME.service (web), a template NAME-TYPE@.service per
    other type with an instance per its count, and NAME-release.service, a oneshot that web waits for (and needs).
    """
    processes = dep.processes if has_more_than_web(dep.processes) else None
    name, target = dep.name, f"{dep.name}.target"
    release = f"{name}-release.service" if processes is not None and processes.release is not None else None
    after = f"After=network.target {release}" if release else "After=network.target"
    files = [File(f"{name}.service", _render_web(plan, dep, processes, after, target, release))]
    if processes is None:
        return files
    wants = [f"{name}.service"]
    for process in find_other_types(processes):
        unit = f"{name}-{process.name}@.service"
        files.append(File(unit, _render_type(plan, dep, process, f"{dep.name} {process.name} %i", after, target,
                                             ["Type=exec"], ["Restart=on-failure", "RestartSec=2"])))
        wants += [f"{name}-{process.name}@{index}.service" for index in range(1, process.count + 1)]
    if release:
        files.append(File(release, _render_type(plan, dep, processes.release, f"{dep.name} release step (once per start of {target})",
                                                "After=network.target", target,
                                                ["Type=oneshot", "RemainAfterExit=yes", "TimeoutStartSec=infinity"], [])))
        wants.insert(0, release)
    lines = [
        make_header("#", "export systemd", dep).rstrip(),
        f"# Every process type of {name}: `systemctl enable --now {target}`; a deploy: `systemctl restart {target}`",
        "# (the release step runs again, then web starts).",
        "[Unit]",
        f"Description={name}: every process type (started by warp)",
        "Wants=" + " ".join(wants),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    files.append(File(target, "\n".join(lines) + "\n"))
    return files


def _render_web(plan: StartPlan, dep: Deployment, processes: ProcessPlan | None, after: str, target: str, release: str | None) -> str:
    """NAME.service; one of NAME.target's units when there are ``processes`` besides web, after the release step."""
    unit = [f"Description={dep.name} ({plan.server or plan.mode}, started by warp)", after]
    before_service = []
    if processes is not None:
        unit += [f"PartOf={target}", *([f"Requires={release}"] if release else [])]
        if processes.web.count > 1:
            before_service.append(f"# web count {processes.web.count}: one web unit per host; its server runs the processes (--processes).")
    service = ["Type=exec", *_run_as(dep)]
    runtime = find_runtime_directory(plan)
    if runtime is not None:
        # systemd creates it for the service's user and removes it on stop.
        service.append(f"RuntimeDirectory={_word(str(runtime.relative_to('/run')), 'RuntimeDirectory=')}")
        service.append("RuntimeDirectoryMode=0755")
    service += [
        _exec_start(dep, ("start", *dep.start_args)),
        "Restart=on-failure",
        "RestartSec=2",
        f"# {describe_stop(plan)}.",
        "# mixed: SIGTERM to warp only (not to every worker at once); SIGKILL to what is left after the timeout.",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
        f"TimeoutStopSec={find_stop_seconds(plan)}",
    ]
    return _make_unit(dep, unit, before_service, service, target if processes is not None else "multi-user.target")


def _render_type(plan: StartPlan, dep: Deployment, process: Process, description: str, after: str, target: str,
                 kind: list[str], restart: list[str]) -> str:
    """A unit running ``process`` with warp, as the web unit runs: same user, directory, environment and stop."""
    service = [*kind, *_run_as(dep), _exec_start(dep, make_type_argv(process)[1:]), *restart]
    if process.name != RELEASE:
        service += [
            f"# {process.name}: {process.command} ({process.source}); warp execs it, so SIGTERM reaches it.",
            "# mixed: SIGTERM to the process only (Celery's worker then finishes its tasks); SIGKILL to what is left.",
            "KillMode=mixed",
            "KillSignal=SIGTERM",
            f"TimeoutStopSec={find_stop_seconds(plan)}",
        ]
    return _make_unit(dep, [f"Description={description} (started by warp)", after, f"PartOf={target}"], [], service, target)


def _make_unit(dep: Deployment, unit: list[str], before_service: list[str], service: list[str], wanted_by: str) -> str:
    lines = [make_header("#", "export systemd", dep).rstrip(), "[Unit]", *unit, "", *before_service, "[Service]", *service,
             "", "[Install]", f"WantedBy={wanted_by}"]
    return "\n".join(lines) + "\n"


def _run_as(dep: Deployment) -> list[str]:
    """The user, directory and environment every unit of the env runs warp with."""
    return [
        f"User={dep.user}",
        f"WorkingDirectory={_path(str(dep.source), 'WorkingDirectory=')}",
        *[f"Environment={_word(f'{key}={value}', 'Environment=')}" for key, value in make_service_environment(dep).items()],
    ]


def _exec_start(dep: Deployment, arguments: tuple[str, ...]) -> str:
    """ExecStart= running this machine's warp with ``arguments``."""
    program, *rest = (*dep.warp, *arguments)
    return "ExecStart=" + " ".join([_program(program), *(_word(word, "ExecStart=", expands=True) for word in rest)])

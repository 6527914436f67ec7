"""supervisor: a [program:NAME] running `warp start`; with other process types, a program per type in one group."""

from __future__ import annotations

import re
import shlex

from warp.config.processes import RELEASE
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


def _text(value: str, where: str) -> str:
    """A value as supervisor's ini parser reads it: % doubled (it expands %(name)s); refused where no quoting helps,
    since a line cannot hold a newline and a # or ; after a blank starts a comment, whatever the quotes."""
    check_utf8("supervisor", where, value)
    for character in ("\n", "\r"):
        if character in value:
            raise make_cannot_express("supervisor", character, where, value)
    comment = re.search(r"\s([#;])", value)
    if comment:
        raise make_cannot_express("supervisor", comment.group(1), where, value, placed=" after a blank")
    return value.replace("%", "%%")


def _path(path: str, where: str) -> str:
    """directory=: used as written, so only its end can be lost (the parser strips blanks there)."""
    if path[-1:].isspace():
        raise make_cannot_express("supervisor", path[-1], where, path, placed=" at the end")
    return _text(path, where)


def _command(words: tuple[str, ...]) -> str:
    """command=, which supervisor splits as a shell would (shlex): each # or ; is put in double quotes of its own,
    so that no blank comes right before it, which the ini parser would take for a comment."""
    quoted = [shlex.quote(word).replace("#", "'\"#\"'").replace(";", "'\";\"'") for word in words]
    return _text(" ".join(quoted), "command=")


def _environment(environment: dict[str, str]) -> str:
    """environment=KEY="value",…: supervisor's tokenizer (shlex without escapes) takes a value in either quote that
    it does not contain, and strips every quote at its ends."""
    pairs = []
    for key, value in environment.items():
        where = f"environment={key}"
        end = next((c for c in (value[:1], value[-1:]) if c in ("'", '"')), None)
        if end:
            raise make_cannot_express("supervisor", end, where, value, placed=" at its start or end")
        if "'" in value and '"' in value:
            raise make_cannot_express("supervisor", "'", where, value, placed=" together with a double quote")
        quote = "'" if '"' in value else '"'
        pairs.append(f"{key}={quote}{_text(value, where)}{quote}")
    return ",".join(pairs)


def _program(dep: Deployment, program: str, arguments: tuple[str, ...]) -> list[str]:
    """[program:PROGRAM] running this machine's warp with ``arguments``, as the env's user, in its source, with its environment."""
    return [
        f"[program:{program}]",
        "command=" + _command((*dep.warp, *arguments)),
        f"directory={_path(str(dep.source), 'directory=')}",
        f"user={dep.user}",
        f"environment={_environment(make_service_environment(dep))}",
    ]


def render(plan: StartPlan, dep: Deployment) -> list[File]:
    """A [program:NAME] section: TERM to warp alone, the group killed only after the graceful timeout.

    With other process types, [group:NAME-processes] of the web program, a program per other type (numprocs from its
    count) and the release step, which supervisor starts first (priority) but does not wait for.
    """
    lines = [
        make_header(";", "export supervisor", dep).rstrip(),
        *_program(dep, dep.name, ("start", *dep.start_args)),
        "autostart=true",
        "autorestart=unexpected",
        "exitcodes=0",
        "startsecs=3",
        f"; {describe_stop(plan)}.",
        "stopsignal=TERM",
        f"stopwaitsecs={find_stop_seconds(plan)}",
        "; TERM to warp only, which stops the server; SIGKILL to the whole process group after stopwaitsecs.",
        "stopasgroup=false",
        "killasgroup=true",
        "redirect_stderr=true",
        "stdout_logfile=AUTO",
    ]
    files = []
    runtime = find_runtime_directory(plan)
    if runtime is not None:
        # /run is emptied at every boot and, unlike systemd, supervisor recreates nothing there.
        lines.insert(2, f"; {runtime} (the socket's directory) is made at boot by {dep.name}.tmpfiles.conf: "
                        f"copy it to /etc/tmpfiles.d/ and run `systemd-tmpfiles --create`.")
        files.append(File(f"{dep.name}.tmpfiles.conf", make_header("#", "export supervisor", dep) + f"d {runtime} 0755 {dep.user} - -\n"))
    text = "\n".join(lines) + "\n"
    if has_more_than_web(dep.processes):
        text += _render_types(plan, dep)
    return [File(f"{dep.name}.supervisor.conf", text), *files]


def _render_types(plan: StartPlan, dep: Deployment) -> str:
    """The sections after web's: the release step and each other type, then the group of them all."""
    processes, name = dep.processes, dep.name
    programs = [name]
    sections = []
    for process in (*([processes.release] if processes.release else []), *find_other_types(processes)):
        program = f"{name}-{process.name}"
        programs.append(program)
        lines = ["", f"; {process.name}: {process.command} ({process.source})", *_program(dep, program, make_type_argv(process)[1:])]
        if process.name == RELEASE:
            lines += [
                "; Once per start of the group, before the others (a lower priority starts first); supervisor does not",
                "; wait for it to end, so web may start during the release. Two at once take turns (warp's lock).",
                "priority=100",
                "autostart=true",
                "autorestart=false",
                "startsecs=0",
                "exitcodes=0",
            ]
        else:
            lines += [
                f"numprocs={process.count}",
                "process_name=%(program_name)s-%(process_num)d",
                f"autostart={'true' if process.count else 'false'}",
                "autorestart=unexpected",
                "exitcodes=0",
                "startsecs=3",
                "; TERM to the process only (Celery's worker then finishes its tasks); SIGKILL to its group after stopwaitsecs.",
                "stopsignal=TERM",
                f"stopwaitsecs={find_stop_seconds(plan)}",
                "stopasgroup=false",
                "killasgroup=true",
            ]
        lines += ["redirect_stderr=true", "stdout_logfile=AUTO"]
        sections.append("\n".join(lines))
    group = ["", f"; Every process type of {name}: `supervisorctl start {name}-processes:*`", f"[group:{name}-processes]",
             "programs=" + ",".join(programs)]
    return "\n".join(sections) + "\n" + "\n".join(group) + "\n"

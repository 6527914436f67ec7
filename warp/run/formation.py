"""Carry out the app's processes (warp.config.processes): one type in the foreground, several together
(warp.run.multirun, restarted on a change under `warp start all --reload`), and the release step once under a lock
on the host."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path
from typing import Mapping

from warp import proc
from warp.config.processes import (
    DECLARED,
    PROCFILE,
    RELEASE,
    SHELL,
    WARP_MIGRATE,
    WARP_WEB,
    WEB,
    Process,
    ProcessPlan,
    find_program,
    make_process_plan,
    make_shell_argv,
)
from warp.config.settings import WARP_ENV_NAME
from warp.context import Context
from warp.env.venv import hold_lock
from warp.errors import EnvError, UsageError
from warp.plan import StartPlan
from warp.report import Report
from warp.run import action_hooks, multirun

#: Shell builtins a command may start with: nothing to look for on PATH.
BUILTINS = frozenset({"cd", "echo", "exec", "export", "set", "test", "[", "true", "false", "printf", "trap", "wait", ":", ".", "eval", "umask", "ulimit"})


def scan_process_plan(ctx: Context, concurrency: tuple[str, str] | None = None) -> ProcessPlan:
    """The project's process types, from its Procfile or [tool.warp.processes]; ``concurrency``: (counts, where from)."""
    path = ctx.source / PROCFILE
    text = None
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {path} ({exc})", hint="make the Procfile a readable UTF-8 text file") from None
    return make_process_plan(procfile=text, tool=ctx.project.tool, is_django=ctx.app.is_django, concurrency=concurrency)



def make_start_args(flags: Mapping[str, object]) -> tuple[str, ...]:
    """The command-line flags of this `warp start`, for the `warp start` that runs web beside the others."""
    args: list[str] = []
    for name, value in flags.items():
        if value in (None, "", False):
            continue
        args.append("--" + name.replace("_", "-"))
        if value is not True:
            args.append(str(value))
    return tuple(args)


def make_environ(ctx: Context, process: Process, port: int) -> dict[str, str]:
    """A declared process's environment: the app's (with .warp/environment), and $PORT for web."""
    environ = ctx.app_environ()
    if process.name == WEB:
        environ["PORT"] = str(port)
    return environ


def check_programs(ctx: Context, processes: tuple[Process, ...], environ: Mapping[str, str]) -> None:
    """Each declared command's program is on the app's PATH (the env's bin first) before anything starts."""
    for process in processes:
        if process.kind != DECLARED:
            continue
        program = find_program(process.command)
        if program and program not in BUILTINS and shutil.which(program, path=environ.get("PATH")) is None:
            raise EnvError(
                f"{process.name}: command {program!r} is not installed in env {ctx.env.name!r} ({process.source})",
                hint=f"add the package that provides {program} to the project's dependencies (e.g. requirements.txt) and run `warp build`",
            )


def make_children(ctx: Context, processes: tuple[Process, ...], start_args: tuple[str, ...], port: int) -> list[multirun.Child]:
    children = []
    for process in processes:
        count = process.count
        if process.name == WEB and count > 1:
            if process.count_source == "--concurrency":
                raise UsageError(
                    f"--concurrency web={count}: on one machine one web process listens on port {port}",
                    hint="run more server processes with --processes N; web counts above 1 are for the exports (kubernetes replicas)",
                )
            count = 1  # the declaration's web count is the platforms' (replicas); here one server, with its own processes
        for index in range(count):
            name = f"{process.name}.{index + 1}"
            if process.kind == WARP_WEB:
                # warp's own plan, by warp itself: its checks, hooks, port claim and graceful stop, as `warp start`.
                argv, group = (sys.executable, "-m", "warp", "start", *start_args), False
                environ = {**ctx.environ, WARP_ENV_NAME: ctx.env.name}
            else:
                argv, group = make_shell_argv(process.command)
                environ = make_environ(ctx, process, port)
            children.append(multirun.Child(name, argv, environ, ctx.source, stop_group=group))
    return children


def make_declared_web_plan(ctx: Context, web: Process) -> StartPlan:
    """The StartPlan the exports and the image describe when web is declared as written: warp execs the command
    (in the app's environment, with $PORT), whose own SIGTERM is its stop. No entry point of warp's is needed."""
    from warp.plan import Decision, find_graceful_timeout, find_host
    from warp.servers import Stop

    port = ctx.settings["port"].value
    host, host_because = find_host(ctx.settings, ctx.machine)
    timeout, timeout_because = find_graceful_timeout(ctx.settings)
    argv, _ = make_shell_argv(web.command)
    decisions = (
        Decision("web", web.command, f"declared in {web.source}, run as written"),
        Decision("port", str(port), f"$PORT for the declared command, from {ctx.settings['port'].source}"),
        Decision("host", host, host_because),
        Decision("graceful timeout", f"{timeout}s", timeout_because),
    )
    return StartPlan(mode=WEB, server=None, host=host, port=port, argv=argv, environ=make_environ(ctx, web, port), cwd=ctx.source,
                     stop=Stop("exec", timeout=timeout), decisions=decisions, masked=ctx.masked)


def check_built(ctx: Context) -> None:
    if ctx.env.read_record().get("state") != "ok":
        raise EnvError(f"env {ctx.env.name!r} has no successful build", hint="run `warp build` first")


def run_processes(ctx: Context, processes: tuple[Process, ...], start_args: tuple[str, ...], report: Report) -> int:
    """One declared type: exec'd in the app's environment. Several: run together until one ends or a stop."""
    check_built(ctx)
    port = ctx.settings["port"].value
    environ = ctx.app_environ()
    check_programs(ctx, processes, environ)
    children = make_children(ctx, processes, start_args, port)
    if not children:
        raise UsageError("every process type named has a count of 0", hint="give one a count of 1 or more (--concurrency worker=1)")
    reload = ctx.settings["reload"].value
    if len(children) == 1 and processes[0].kind == DECLARED and not reload:
        report(f" -----> Starting {processes[0].name}: {processes[0].command}")
        proc.exec_(children[0].argv, env=children[0].environ, cwd=children[0].cwd)
    report(f" -----> Starting {', '.join(child.name for child in children)} (Ctrl-C stops them all)")
    timeout = ctx.settings["graceful_timeout"].value
    out = multirun.find_output()
    printer = multirun.Printer(out, [child.name for child in children] + ["warp"], multirun.should_colour(sys.stdout, ctx.environ))
    if not reload:
        return multirun.run_children(children, timeout=timeout, printer=printer)
    # warp's own web restarts itself (`warp start --reload`); warp restarts every other process on a change.
    own = {f"{process.name}.{index + 1}" for process in processes if process.kind == WARP_WEB for index in range(process.count)}
    restart = frozenset(child.name for child in children if child.name not in own)
    from warp.reload.session import watch_source

    changed, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=watch_source, args=(ctx, changed, stop), daemon=True)
    watcher.start()
    report(f" -----> Watching {ctx.source} for changes: {', '.join(sorted(restart))} restart on each")
    try:
        return multirun.run_children(children, timeout=timeout, printer=printer, changed=changed, restart=restart)
    finally:
        stop.set()
        watcher.join(timeout=2)


# ---------------------------------------------------------------- the release step


def find_release_lock(ctx: Context) -> Path:
    """One lock per env on this host: two deploys of the env (two `warp release` at once) take turns."""
    return ctx.env.state / "release.lock"


def run_release(ctx: Context, plan: ProcessPlan, report: Report) -> None:
    """The release step, once; a second `warp release` of the same env waits for the first, and says so."""
    release = plan.release
    if release is None:
        report(f" -----> No release step (no `release:` in {PROCFILE} or [tool.warp.processes], no [tool.warp] release); nothing to do")
        return
    check_built(ctx)
    lock_path = find_release_lock(ctx)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with hold_lock(lock_path, lambda: report(f" -----> Waiting for another `warp release` of env {ctx.env.name} to finish")):
        if release.kind == WARP_MIGRATE:
            report(f" -----> Release: warp migrate ({release.source})")
            action_hooks.run_migrate(ctx, report)
        else:
            environ = ctx.app_environ()
            check_programs(ctx, (release,), environ)
            report(f" -----> Release: {release.command} ({release.source})")
            proc.run((SHELL, "-c", release.command), env=environ, cwd=ctx.source, step="release", capture=False,
                     hint=f"fix the release command ({release.source}) or what it reported above")
        report(" -----> Release done")


def describe(process: Process) -> str:
    """How a process type runs, for `warp plan`."""
    if process.kind == WARP_WEB:
        return "warp's own plan (above)" + (f", declared as {process.command!r}" if process.command != "warp start" else "")
    if process.kind == WARP_MIGRATE or process.name == RELEASE:
        return "once, by `warp release`, under a lock"
    if process.name == WEB:
        return "run as written (not warp's own plan), with $PORT"
    return "run as written"

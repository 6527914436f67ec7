"""Thin click commands: build plans, hand them to the run layer, render errors once."""

from __future__ import annotations

import os
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from warp.context import Context

from warp import __version__, deploy, servers, shell
from warp.config.settings import INTERFACES, MODES, SERVER_TYPES, find_warp_home, read_environ
from warp.errors import EnvError, UsageError, WarpError, disk_full_as_error

_quiet = False


class Reporter:
    """Progress and warnings go to stderr, so `eval "$(warp activate)"` sees only shell code."""

    def __call__(self, message: str) -> None:
        if _quiet and not message.startswith("warning:"):
            return
        click.echo(message, err=True)

    @contextmanager
    def working(self, doing: str, done: str | None, *, after: float = 0.0):
        """A long step (see report.working): on a terminal, from ``after`` seconds on, ``doing`` with a spinner and
        the seconds so far, replaced by ``done`` (or removed) when the step ends; in a log both as plain lines."""
        started = time.monotonic()
        if _quiet or not sys.stderr.isatty():
            if done is not None:
                self(doing)
            yield
            if done is not None:
                self(done.format(seconds=time.monotonic() - started))
            return
        import itertools
        import shutil
        import threading

        stop = threading.Event()
        drawn = threading.Event()

        def spin() -> None:
            if stop.wait(after):
                return
            width = shutil.get_terminal_size().columns - 1
            for frame in itertools.cycle("|/-\\"):
                tail = f" {frame} {time.monotonic() - started:.0f} s"
                sys.stderr.write("\r" + doing[: max(width - len(tail), 0)] + tail + "\033[K")
                sys.stderr.flush()
                drawn.set()
                if stop.wait(0.125):
                    return

        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()
        try:
            yield
        except BaseException:
            stop.set()
            spinner.join()
            if drawn.is_set():  # the step that failed stays named above the error
                sys.stderr.write("\r" + doing + "\033[K\n")
            raise
        finally:
            stop.set()
            spinner.join()
        if done is not None:
            sys.stderr.write(("\r" if drawn.is_set() else "") + done.format(seconds=time.monotonic() - started) + "\033[K\n")
        elif drawn.is_set():
            sys.stderr.write("\r\033[K")
        sys.stderr.flush()


report = Reporter()


def _flags(**values) -> dict:
    return {key: value for key, value in values.items() if value not in (None, "", ())}


def _context(create: bool = True, quiet: bool = False, **flags) -> Context:
    """The command's context; ``quiet``: say only warnings (the project read again under --reload)."""
    from warp import context

    said = (lambda message: report(message) if message.startswith("warning:") else None) if quiet else report
    return context.load_context(_flags(**flags), read_environ(), _cwd(), said, create=create)


def _cwd() -> Path:
    """The current directory; one deleted under the shell is the user's to fix, not a crash."""
    try:
        return Path.cwd()
    except FileNotFoundError:
        raise UsageError("the current directory no longer exists", hint="cd to the project's directory again") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="warp")
@click.option("-q", "--quiet", is_flag=True, help="Print only warnings and errors.")
def cli(quiet: bool) -> None:
    """Build and run Python web applications exactly as they run in production."""
    global _quiet
    _quiet = quiet


# ---------------------------------------------------------------- environments

shell_option = click.option("--shell", "shell_name", type=click.Choice(shell.SHELLS), help="Shell to print code for (default: from $SHELL).")


def _shell_name(given: str | None) -> str:
    if given:
        return given
    name = os.path.basename(os.environ.get("SHELL", ""))
    return name if name in shell.SHELLS else "bash"


def _path_without(path: str, *remove: str) -> list[str]:
    return [item for item in path.split(":") if item and item not in remove]


@cli.command()
@click.argument("name", required=False)
@click.option("--python", help="Interpreter for a new env (path, command or version, e.g. 3.12).")
@shell_option
def activate(name: str | None, python: str | None, shell_name: str | None) -> None:
    """Create (if needed) and select an env; print shell code for eval."""
    from warp.env import venv

    environ = read_environ()
    cwd = _cwd()
    home = find_warp_home(environ)
    if name is None:
        env, cwd, why = venv.find_default_env(home, cwd, environ)  # the project's root, from any directory in it
    else:
        env, why = venv.find_env(home, name), ""
    flags = _flags(python=python)
    if env.exists():
        source = Path(env.read_meta().get("source") or cwd)
        if why:
            report(f" -----> Using env {env.name} for {source} ({why})")
        if python:
            from warp import context
            from warp.env import pythons

            context.ensure_python(env, pythons.Request(python, "--python"), environ, source, report)
    else:
        from warp import context

        context.create_project_env(env, flags, environ, cwd)
        report(f" -----> Created env {env.name} ({env.path})" + (f" for {cwd} ({why})" if why else ""))
        source = cwd
    old_bin = os.path.join(environ["VIRTUAL_ENV"], "bin") if environ.get("VIRTUAL_ENV") else ""
    path = ":".join([str(env.bin)] + _path_without(environ.get("PATH", ""), str(env.bin), old_bin))
    values = {
        "WARP_HOME": str(home),
        "WARP_ENV_NAME": env.name,
        "WARP_ENV_ROOT": str(env.path),
        "WARP_SRC_ROOT": str(source),
        "WARP_APP_ROOT": str(source),
        "VIRTUAL_ENV": str(env.path),
    }
    sys.stdout.write(shell.make_activate(_shell_name(shell_name), values, path))


@cli.command()
@shell_option
def deactivate(shell_name: str | None) -> None:
    """Print shell code that leaves the active env."""
    environ = read_environ()
    old_bin = os.path.join(environ["VIRTUAL_ENV"], "bin") if environ.get("VIRTUAL_ENV") else ""
    path = ":".join(_path_without(environ.get("PATH", ""), old_bin))
    sys.stdout.write(shell.make_deactivate(_shell_name(shell_name), path))


@cli.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def destroy(name: str, yes: bool) -> None:
    """Delete the env NAME (never the active one, never anything outside WARP_HOME)."""
    from warp.env import venv

    environ = read_environ()
    env = venv.find_env(find_warp_home(environ), name)
    if environ.get("WARP_ENV_NAME") == env.name:
        raise UsageError(f"env {name!r} is active in this shell", hint='run `eval "$(warp deactivate)"` first')
    if env.path.is_symlink() or not env.path.resolve().is_relative_to((env.path.parent).resolve()):
        raise UsageError(f"env {name!r} leads outside {env.path.parent}", hint="warp deletes only envs inside WARP_HOME; remove it yourself if you are sure")
    if not env.path.exists():
        raise EnvError(f"env {name!r} does not exist", hint="see `warp list` for the envs there are")
    if not env.meta_path.is_file():
        raise EnvError(f"{env.path} is not a warp env", hint="warp deletes only envs it created; remove it yourself if you are sure")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to delete env {name!r} without confirmation", hint=f"run `warp destroy {name} --yes`")
        click.confirm(f"Delete env {name} ({env.path})?", abort=True)
    venv.remove_env(env)
    report(f" -----> Deleted env {name}")


@cli.command(name="list")
def list_() -> None:
    """List envs: name, python, source directory, last build."""
    from warp.env import venv

    environ = read_environ()
    envs = venv.list_envs(find_warp_home(environ))
    if not envs:
        report('no envs yet; create one with eval "$(warp activate)"')
        return
    rows = []
    for env in envs:
        try:
            meta = env.read_meta()
        except EnvError:
            meta = {"python_version": "?", "source": "(metadata unreadable)"}
        rows.append((env.name, meta.get("python_version") or "?", meta.get("last_build") or "never", meta.get("source") or "?"))
    widths = [max(len(row[i]) for row in rows + [("NAME", "PYTHON", "LAST BUILD", "")]) for i in range(3)]
    lines = [f"{'NAME':{widths[0]}}  {'PYTHON':{widths[1]}}  {'LAST BUILD':{widths[2]}}  SOURCE"]
    lines += [f"{row[0]:{widths[0]}}  {row[1]:{widths[1]}}  {row[2]:{widths[2]}}  {row[3]}" for row in rows]
    sys.stdout.write("".join(line + "\n" for line in lines))


@cli.command(name="env")
@shell_option
@click.option("--show-secrets", is_flag=True, help="Include the values from .warp/environment.")
def env_(shell_name: str | None, show_secrets: bool) -> None:
    """Print the app environment as shell exports (without .warp/environment's values unless --show-secrets)."""
    ctx = _context()
    environ = ctx.app_environ()
    changed = {key: value for key, value in environ.items() if ctx.environ.get(key) != value}
    hidden = sorted(key for key in changed if key in ctx.masked and not show_secrets)
    if hidden:
        report(f"warning: not printed, from .warp/environment: {', '.join(hidden)} (pass --show-secrets to include them)")
    shown = {key: value for key, value in changed.items() if key not in hidden}
    sys.stdout.write(shell.make_exports(_shell_name(shell_name), shown) + "\n")


@cli.command(name="exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(command: tuple[str, ...]) -> None:
    """Run COMMAND in the app environment."""
    from warp import proc

    ctx = _context()
    proc.exec_(command, env=ctx.app_environ(), cwd=_cwd())


@cli.command(name="shell")
def shell_() -> None:
    """Open your shell in the app environment."""
    from warp import proc

    ctx = _context()
    proc.exec_([os.environ.get("SHELL") or "/bin/sh"], env=ctx.app_environ(), cwd=ctx.source)


# ---------------------------------------------------------------- build and start

server_option = click.option("--server", type=click.Choice(SERVER_TYPES), help="Server type (default: auto).")


@cli.command(name="build")
@server_option
@click.option("--installer", type=click.Choice(("uv", "pip")), help="Installer (default: uv).")
@click.option("--force", is_flag=True, help="Reinstall even when the inputs are unchanged.")
@click.option("--offline", is_flag=True, default=None, help="Install from .warp/wheelhouse only (WARP_PIP_NO_INDEX=1).")
@click.option("--no-wait", is_flag=True, help="Fail instead of waiting when another build of the env runs.")
@click.option("--home", help="Subdirectory that holds the application (a uv workspace's member: its locked set).")
def build_(server, installer, force, offline, no_wait, home) -> None:
    """Install dependencies and the server, run hooks and collectstatic."""
    from warp import build

    ctx = _context(server=server, installer=installer, offline=offline or None, home=home)
    build.run_build(ctx, report, force=force, wait=not no_wait)


@cli.command()
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), help="Directory for the wheels (default: .warp/wheelhouse).")
@server_option
def wheels(dest: Path | None, server: str | None) -> None:
    """Build a wheelhouse for offline builds: the dependencies, the server, pip and the build backend."""
    from warp import build

    ctx = _context(server=server)
    build.run_wheels(ctx, report, (dest or ctx.source / ".warp" / "wheelhouse").absolute())


def start_options(function):
    options = [
        server_option,
        click.option("--app", help="The application: module:callable, a .wsgi/.py file, or a paste .ini."),
        click.option("--home", help="Subdirectory that holds the application."),
        click.option("--mode", type=click.Choice(MODES)),
        click.option("--interface", type=click.Choice(INTERFACES), help="WSGI or ASGI (default: what the application is)."),
        click.option("--host", help="Address to listen on (default 127.0.0.1; 0.0.0.0 in a container)."),
        click.option("--port", help="Port to listen on (default: $PORT or 8080)."),
        click.option("--socket", help=servers.SOCKET_HELP),
        click.option("--processes", help="Worker processes."),
        click.option("--threads", help="Threads per process."),
        click.option("--graceful-timeout", help="Seconds in-flight requests get on stop (default 30)."),
        click.option("--reload", is_flag=True, default=None, help="Development mode: restart on every change."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


concurrency_option = click.option(
    "-c", "--concurrency", help="Processes of each type, as honcho's -c: web=1,worker=2 (default: the declaration's, else 1).")


@cli.command(name="start")
@click.argument("types", nargs=-1)
@start_options
@concurrency_option
@click.option("--dry-run", is_flag=True, help="Print the plan instead of starting.")
def start_(types: tuple[str, ...], concurrency: str | None, dry_run: bool, **flags) -> None:
    """Start the app under a production server; `warp start all` (or TYPES) runs the Procfile's processes together."""
    from warp.run import formation, start

    ctx = _context(**flags)
    processes = formation.scan_process_plan(ctx, _concurrency(concurrency))
    selected = processes.select(types or ("web",))
    if not processes.is_warps_web_alone(selected):
        if dry_run:
            _print_processes(processes, selected)
            return
        sys.exit(formation.run_processes(ctx, selected, formation.make_start_args(flags), report))
    plan = start.scan_start_plan(ctx)
    for warning in plan.warnings:
        report(f"warning: {warning}")
    if dry_run:  # what `warp plan` prints
        _print_plan(ctx, plan)
        click.echo("")
        _print_processes(processes, processes.select(("all",)))
        return
    held = start.prepare(ctx, plan, report)
    if plan.host in ("0.0.0.0", "::") and not plan.socket:
        report(f" -----> Listening on all interfaces ({plan.host}); pass --host 127.0.0.1 to keep it local")
    where = f"unix:{plan.socket} ({plan.socket_protocol} protocol)" if plan.socket else f"http://{plan.host}:{plan.port}/"
    report(f" -----> Starting {plan.server or plan.mode} on {where}")
    if ctx.settings["reload"].value:
        from warp.reload import session

        sys.exit(session.run_reload(ctx, plan, held, report, lambda: _context(quiet=True, **flags)))
    sys.exit(start.run_server(plan, held, report))


def _concurrency(given: str | None) -> tuple[str, str] | None:
    return (given, "--concurrency") if given else None


@cli.command()
@concurrency_option
def release(concurrency: str | None) -> None:
    """Run the release step once (Procfile `release:`, or Django's migrate with [tool.warp] release = "migrate"), under a lock."""
    from warp.run import formation

    ctx = _context()
    formation.run_release(ctx, formation.scan_process_plan(ctx, _concurrency(concurrency)), report)


@cli.command(name="plan")
@start_options
@concurrency_option
def plan_(concurrency: str | None, **flags) -> None:
    """Print every decision `warp start` would make, why, and the exact command; then the app's process types."""
    from warp.run import formation, start

    ctx = _context(**flags)
    processes = formation.scan_process_plan(ctx, _concurrency(concurrency))
    if not processes.web.is_declared:
        plan = start.scan_start_plan(ctx)
        for warning in plan.warnings:
            report(f"warning: {warning}")
        _print_plan(ctx, plan)
        click.echo("")
    _print_processes(processes, processes.select(("all",)))


def _print_processes(processes, selected) -> None:
    from warp.run import formation

    rows = [(p.name, "once" if p.name == "release" else str(p.count), p.command,
             f"{formation.describe(p)}; {'' if p.source.startswith('no ') else 'from '}{p.source}"
             + ("" if p.count_source in ("default", p.source) else f"; count from {p.count_source}"))
            for p in processes.processes]
    widths = [max(len(row[i]) for row in rows + [("TYPE", "COUNT", "COMMAND", "")]) for i in range(3)]
    click.echo("processes" + (f" (declared in {processes.declared_in})" if processes.declared_in else " (none declared)") + ":")
    click.echo(f"  {'TYPE':{widths[0]}}  {'COUNT':{widths[1]}}  {'COMMAND':{widths[2]}}  HOW")
    for row in rows:
        click.echo(f"  {row[0]:{widths[0]}}  {row[1]:{widths[1]}}  {row[2]:{widths[2]}}  {row[3]}")
    click.echo("`warp start " + ("all" if len(selected) > 1 else selected[0].name if selected else "all") + "` runs: " + (", ".join(p.name for p in selected) or "nothing"))
    if processes.release is not None:
        click.echo("`warp release` runs: release")


def _print_plan(ctx: Context, plan) -> None:
    from warp import build
    from warp.env import pythons
    from warp.plan import Decision

    click.echo(f"project  {ctx.source}")
    click.echo(f"env      {ctx.env.name} ({ctx.env.path})")
    click.echo("")
    meta = ctx.env.read_meta()
    python = Decision("python", meta.get("python_version") or "?", pythons.find_python_because(pythons.find_request(ctx.settings, ctx.project), meta))
    decisions = [python, *build.scan_build_plan(ctx)[0].decisions[:2], *plan.decisions]
    width = max(len(d.name) for d in decisions)
    vwidth = max(len(d.value) for d in decisions)
    for decision in decisions:
        click.echo(f"{decision.name:{width}}  {decision.value:{vwidth}}  because {decision.because}")
    click.echo("")
    for argv in plan.prepare:
        click.echo("prepare: " + shlex.join(argv))
    click.echo("command: " + shlex.join(plan.argv))
    click.echo(f"stop:    {plan.stop.kind}" + (f" {plan.stop.signal}" if plan.stop.signal else "") + f", then kill after {plan.stop.timeout:g}s")
    click.echo("environment:")
    for key in sorted(plan.environ):
        if ctx.environ.get(key) == plan.environ[key]:
            continue
        shown = "******** (from .warp/environment)" if key in plan.masked else shlex.quote(plan.environ[key])
        click.echo(f"  {key}={shown}")


# ---------------------------------------------------------------- beyond one machine

force_option = click.option("--force", is_flag=True, help="Overwrite files that exist with other content.")


def _render_and_write(target, *, flags: dict, out: Path | None, force: bool, listen: str = "80", into_source: bool = False,
                      concurrency: str | None = None):
    """Plan as `warp start` would, render with ``target`` (a module of warp.deploy), write; print each path."""
    from warp.deploy import effects
    from warp.run import formation

    platform = target.PLATFORM
    ctx = effects.keep_local(_context(create=False, **flags)) if not platform else _context(create=False, **flags)
    processes = formation.scan_process_plan(ctx, _concurrency(concurrency))
    plan = _web_plan(ctx, processes, local=not platform)
    if plan.socket and not platform:
        report(f" -----> {plan.server} listens on unix:{plan.socket} ({plan.socket_protocol} protocol)")
    files = target.render(plan, effects.make_deployment(ctx, plan, platform=platform, listen=listen, processes=processes))
    out = ctx.source if into_source else (out or ctx.env.state / "export").absolute()
    for path in effects.write_files(out, files, force, report, elsewhere="" if into_source else "--out DIR"):
        click.echo(str(path))
    return ctx, plan


def _web_plan(ctx: Context, processes, *, local: bool):
    """What the exports and the image describe for web: warp's own StartPlan, or the declared command's."""
    from warp.deploy import effects
    from warp.run import formation

    if processes.web.is_declared:  # the checks of effects.scan_deploy_plan: no --reload, a built env
        if ctx.settings["reload"].value:
            raise UsageError("--reload is a development mode and is not exported", hint="leave out --reload")
        formation.check_built(ctx)
        return formation.make_declared_web_plan(ctx, processes.web)
    return effects.scan_deploy_plan(ctx, local=local)


@cli.command(name="export", help=f"Write TARGET's configuration from the plan `warp start` runs: {', '.join(deploy.NAMES)}.")
@click.argument("target")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Directory to write to (default: the env's .warp/export).")
@click.option("--listen", default="80", show_default=True, help="nginx: the port or address:port nginx listens on.")
@force_option
@start_options
@concurrency_option
def export_(target: str, out: Path | None, listen: str, force: bool, concurrency: str | None, **flags) -> None:
    from warp.deploy import effects, kubernetes

    ctx, _ = _render_and_write(deploy.find_target(target), flags=flags, out=out, force=force, listen=listen, concurrency=concurrency)
    if target == "kubernetes" and ctx.project.environment:
        report(f" -----> The Deployment reads .warp/environment from Secret {kubernetes.find_secret_name(ctx.env.name)}; create it with:")
        report("        " + kubernetes.make_secret_command(ctx.env.name, ctx.source))
        effects.report_env_file_quirks(ctx, "kubectl's --from-env-file", report)


@cli.command()
@click.argument("name", required=False)
@click.option("--base-image", help="Image both stages start from (default: python:X.Y-slim for the env's Python).")
@force_option
@start_options
def image(name: str | None, force: bool, **flags) -> None:
    """Put a wheelhouse, a Containerfile and a .containerignore in the project and build image NAME with docker, podman or buildah."""
    from warp.deploy import base, container, effects
    from warp.run import formation

    ctx = _context(create=False, **flags)
    processes = formation.scan_process_plan(ctx)
    plan = _web_plan(ctx, processes, local=not container.PLATFORM)
    # The wheelhouse first: a package that cannot go in stops everything before a file is written.
    effects.run_image_wheelhouse(ctx, report)
    dep = effects.make_deployment(ctx, plan, platform=container.PLATFORM, processes=processes)
    files = container.render(plan, dep)
    if not any((ctx.source / name).exists() for name in (".containerignore", ".dockerignore")):
        files += container.render_containerignore(dep)
    elif ".warp/environment" not in _read_ignore(ctx.source) and ctx.project.environment:
        report("warning: the project's .containerignore/.dockerignore does not list .warp/environment: its values would go into the image")
    for path in effects.write_files(ctx.source, files, force, report):
        click.echo(str(path))
    tag = name if name and ":" in name else f"{name}:latest" if name else base.find_image_name(ctx.env.name)
    effects.run_image(ctx, ctx.source / "Containerfile", tag, plan.port, report)


def _read_ignore(source: Path) -> str:
    return "".join((source / name).read_text(errors="replace") for name in (".containerignore", ".dockerignore") if (source / name).is_file())


@cli.command()
@click.option("--builder", help="Also build an S2I builder image NAME: the base image, warp and these scripts.")
@click.option("--base-image", help="Image the builder starts from (default: python:X.Y-slim for the env's Python).")
@force_option
@start_options
def s2i(builder: str | None, force: bool, **flags) -> None:
    """Write OpenShift Source-to-Image scripts (.s2i/bin/assemble, run, usage) that call warp, and build a builder image."""
    from warp.deploy import effects
    from warp.deploy import s2i as s2i_target

    ctx, plan = _render_and_write(s2i_target, flags=flags, out=None, force=force, into_source=True)
    if builder:
        tag = builder if ":" in builder else f"{builder}:latest"
        effects.run_s2i_builder(ctx, plan, tag, report)


# ---------------------------------------------------------------- the action hooks and the probes


@cli.command()
def setup() -> None:
    """Run the setup hook."""
    from warp.run import action_hooks

    action_hooks.run_named_hook(_context(), "setup", report)


@cli.command()
def migrate() -> None:
    """Run the migrate hook, or Django's `manage.py migrate --noinput`."""
    from warp.run import action_hooks

    action_hooks.run_migrate(_context(), report)


@cli.command()
def alive() -> None:
    """Liveness probe: the alive hook, else HTTP GET on the app's port (< 500 is alive)."""
    from warp.run import action_hooks

    action_hooks.probe_app(_context(), "alive", report)


@cli.command()
def ready() -> None:
    """Readiness probe: the ready hook, else HTTP GET on the app's port."""
    from warp.run import action_hooks

    action_hooks.probe_app(_context(), "ready", report)


@cli.command()
def verify() -> None:
    """Run the verify hook."""
    from warp.run import action_hooks

    action_hooks.run_named_hook(_context(), "verify", report)


def main() -> None:
    # Nothing warp creates (env files, WARP_HOME, generated server files) may be world-writable, whatever the umask.
    os.umask(os.umask(0o022) | 0o002)
    try:
        with disk_full_as_error():
            cli.main(standalone_mode=False, prog_name="warp")
    except WarpError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        click.echo("error: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        click.echo("       see `warp --help`", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except Exception:  # noqa: BLE001  (a bug in warp: say so, with the traceback)
        import traceback

        traceback.print_exc()
        click.echo("error: this is a bug in warp; please report it with the traceback above", err=True)
        sys.exit(70)
    sys.exit(0)

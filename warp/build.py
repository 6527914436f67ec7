"""Carry out a BuildPlan: hooks, installs, collectstatic, the build record."""

from __future__ import annotations

import fcntl
import importlib.util
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import warp
from warp import __version__, locks, proc, servers
from warp.context import Context, Report, scan_digests, scan_incomplete, scan_installed
from warp.errors import EnvError, StepFailed, UsageError, disk_full_as_error
from warp.plan import BuildPlan, Installer, find_dependency_inputs, find_installer, find_servers_named, make_build_plan
from warp.venv import Env, drop_world_write, find_uv



def find_hooks_dir() -> Path:
    """The hooks/ scripts: package warp.hooks when installed, ../hooks in a source checkout."""
    spec = importlib.util.find_spec("warp.hooks")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent
    return Path(warp.__file__).resolve().parent.parent / "hooks"


HOOKS_DIR = find_hooks_dir()

@contextmanager
def hold_build_lock(env: Env, report: Report, *, wait: bool = True):
    """One build per env at a time: the second waits (or fails with --no-wait)."""
    env.state.mkdir(parents=True, exist_ok=True)
    with open(env.lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise EnvError(f"another build of env {env.name!r} is running", hint="wait for it, or drop --no-wait to queue") from None
            report(f" -----> Waiting for another build of env {env.name} to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def make_plan(ctx: Context) -> tuple[BuildPlan, Installer]:
    uv = find_uv()
    name, because = find_installer(ctx.settings, uv)
    wheelhouse = ctx.source / ".warp" / "wheelhouse"
    installer = Installer(
        name=name,
        uv=uv,
        python=ctx.env.python,
        find_links=wheelhouse if wheelhouse.is_dir() else None,
        offline=ctx.settings["offline"].value,
    )
    files, _, _ = find_dependency_inputs(ctx.project, ctx.settings)
    plan = make_build_plan(
        project=ctx.project,
        app=ctx.app,
        settings=ctx.settings,
        installer=installer,
        installer_because=because,
        digests=scan_digests(ctx.source, files),
        python_version=ctx.env.read_meta().get("python_version", ""),
        installed=scan_installed(ctx.env),
        warp_version=__version__,
        hooks_dir=HOOKS_DIR,
        locked_requirements=ctx.env.state / "requirements.locked.txt",
        record=ctx.env.read_record(),
    )
    return plan, installer


def run_build(ctx: Context, report: Report, *, force: bool = False, wait: bool = True) -> dict:
    with hold_build_lock(ctx.env, report, wait=wait):
        try:
            return _run_steps(ctx, report, force=force)
        finally:
            drop_world_write(ctx.env)


def _run_steps(ctx: Context, report: Report, *, force: bool) -> dict:
    """The build proper, under the env's lock: hooks, installs, collectstatic, then the record."""
    plan, installer = make_plan(ctx)
    for warning in plan.warnings:
        report(f"warning: {warning}")
    record = ctx.env.read_record()
    unchanged = not force and record.get("state") == "ok" and record.get("fingerprint") == plan.fingerprint
    cut_short = record.get("state") == "building"  # the last build did not finish (killed, a full disk)
    if not unchanged:
        ctx.env.clear_record()
    if cut_short:
        _forget_incomplete(ctx, report)
    environ = ctx.app_environ()
    if installer.name == "uv":
        environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    timings: dict[str, float] = {}
    collected = None
    for step in plan.steps:
        started = time.monotonic()
        if step.kind == "hook":
            report(f" -----> {step.title}")
            proc.run_hook(step.hook.path, env=environ, cwd=ctx.source, step=step.title)
        elif step.kind == "lock":
            if unchanged:
                continue
            report(f" -----> {step.title}")
            how, pinned = step.packages
            lines = read_lock(ctx, how, environ)
            with disk_full_as_error(writing=pinned):
                Path(pinned).write_text("\n".join(lines) + "\n")
        elif step.kind == "install":
            if unchanged:
                report(" -----> Dependencies unchanged, skipping install (use --force to reinstall)")
                continue
            report(f" -----> {step.title}")
            proc.run(step.argv, env=environ, cwd=ctx.source, step=step.title, hint="fix the requirement named above and run `warp build` again")
        elif step.kind == "server":
            if unchanged:
                continue
            _ensure_server(ctx, step, environ, report, servers.ADAPTERS[plan.server])
        elif step.kind == "collectstatic":
            collected = _collectstatic(ctx, step.title, environ, report, clear=cut_short)
        timings[step.kind] = timings.get(step.kind, 0.0) + round(time.monotonic() - started, 3)
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    new_record = {
        "state": "ok",
        "fingerprint": plan.fingerprint,
        "server": plan.server,
        # The server stays chosen for later builds and starts until these change (see plan.find_server).
        "servers_named": find_servers_named(ctx.project.requirements_text),
        "installer": installer.name,
        "python": ctx.env.read_meta().get("python_version"),
        "static_root": collected,
        "timings": timings,
        "finished": finished,
        "skipped_install": unchanged,
    }
    ctx.env.update_meta(last_build=finished)
    ctx.env.write_record(new_record)  # last: the record alone says the env is built, so a write that fails leaves it unbuilt
    report(f" -----> Build of env {ctx.env.name} finished")
    return new_record


def _forget_incomplete(ctx: Context, report: Report) -> None:
    """Unregister the distributions an unfinished install left without all their files, so that this build's
    install puts them in again."""
    incomplete = scan_incomplete(ctx.env)
    if incomplete:
        report(f" -----> The last build did not finish; installing again what it left incomplete: {', '.join(sorted(incomplete))}")
        for info in incomplete.values():
            shutil.rmtree(info)


def run_wheels(ctx: Context, report: Report, dest: Path) -> int:
    """Build a wheelhouse for the resolved inputs, the server and pip.

    The project itself is not included: it is installed editable from its source.
    Its build backend is added when the index has it (uv carries uv_build itself).
    """
    files, how, _ = find_dependency_inputs(ctx.project, ctx.settings)
    environ = ctx.app_environ()
    requirements: list[str] = []
    if how == "requirements":
        for name in files:
            requirements += ["-r", name]
    elif how == "project":
        requirements.append(".")
    elif how != "none":
        lines = [line for line in read_lock(ctx, how, environ) if not line.startswith(("-e", "."))]
        pinned = ctx.env.state / "wheels.requirements.txt"
        with disk_full_as_error(writing=pinned):
            pinned.write_text("\n".join(lines) + "\n")
        requirements += ["-r", str(pinned)]
    server = next(step.packages for step in make_plan(ctx)[0].steps if step.kind == "server")
    dest.mkdir(parents=True, exist_ok=True)
    report(f" -----> Building wheels into {dest}")
    pip_wheel = [str(ctx.env.python), "-m", "pip", "wheel", "--disable-pip-version-check", "--wheel-dir", str(dest)]
    seed = ["pip", "setuptools", "wheel"]  # what a new env is seeded with (offline too)
    proc.run(pip_wheel + requirements + list(server) + seed, env=environ, cwd=ctx.source, step="Building wheels",
             hint="see pip's output above")
    backend = ctx.project.pyproject.get("build-system", {}).get("requires")
    if backend and how in ("project", "uv.lock", "poetry.lock"):
        try:
            proc.run(pip_wheel + list(backend), env=environ, cwd=ctx.source, step="Building wheels for the build backend")
        except StepFailed:
            report(f"warning: the build backend ({', '.join(backend)}) could not be fetched; an offline install of the project itself may need it")
    count = len(list(dest.glob("*.whl")))
    report(f" -----> {count} wheels in {dest}; build offline with WARP_PIP_NO_INDEX=1 warp build")
    return count


def read_lock(ctx: Context, how: str, environ) -> list[str]:
    """The pinned requirement lines of the default group of a lock (or of [project] dependencies)."""
    if how == "uv.lock":
        offline = ctx.settings["offline"].value
        uv = find_uv()
        if not uv:
            raise StepFailed("uv.lock needs uv to export it, and uv was not found", hint="reinstall warp-web (uv is one of its dependencies)")
        text = proc.run(
            # Online, --locked also checks that uv.lock matches pyproject.toml; that check needs the index.
            [uv, "export", "--frozen" if offline else "--locked", "--no-dev", "--format", "requirements.txt",
             "--no-hashes", "--no-header", "--no-annotate", "--quiet"] + (["--offline"] if offline else []),
            env={**environ, "UV_PYTHON_DOWNLOADS": "never"}, cwd=ctx.source, step="Reading uv.lock",
            hint="if uv.lock is out of date, run `uv lock` and build again",
        )
        return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if how == "poetry.lock":
        return locks.make_poetry_requirements((ctx.source / "poetry.lock").read_text())
    if how == "Pipfile.lock":
        text = proc.run(
            [sys.executable, "-m", "micropipenv", "requirements", "--method", "pipenv", "--no-dev", "--no-indexes", "--no-comments", "--no-hashes"],
            env=environ, cwd=ctx.source, step="Reading Pipfile.lock", hint="if Pipfile.lock is out of date, run `pipenv lock`",
        )
        return [line for line in text.splitlines() if line.strip()]
    dependencies = ctx.project.pyproject.get("project", {}).get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(item, str) for item in dependencies):
        raise UsageError("[project] dependencies in pyproject.toml is not a list of requirements",
                         hint='write it as dependencies = ["flask>=3", "gunicorn"]')
    return dependencies


def _ensure_server(ctx: Context, step, environ, report: Report, adapter: servers.Adapter) -> None:
    installed = scan_installed(ctx.env)
    missing = [package for package in step.packages if package not in installed]
    if not missing:
        report(f" -----> {', '.join(step.packages)} already installed")
        return
    if adapter.packages[0] in missing:
        adapter.check_build(environ)
    report(f" -----> Installing {', '.join(missing)}")
    proc.run(step.argv + tuple(missing), env=environ, cwd=ctx.source, step=f"Installing {', '.join(missing)}",
             hint="see the installer's output above")


def run_collectstatic(ctx: Context, report: Report) -> str | None:
    """Collect Django's static files again (after a static file changed under --reload)."""
    return _collectstatic(ctx, "Collecting Django static files", ctx.app_environ(), report)


def _collectstatic(ctx: Context, title: str, environ, report: Report, *, clear: bool = False) -> str | None:
    """With ``clear`` the static root is emptied first: a copy cut short looks newer than its source, and would stay."""
    report(f" -----> {title}")
    environ = {**environ, "WARP_STATIC_FALLBACK": str(ctx.env.static_root), "WARP_STATIC_CLEAR": "1" if clear else ""}
    answer = proc.run_json(
        (str(ctx.env.python), str(HOOKS_DIR / "django_collectstatic.py")),
        env=environ,
        cwd=ctx.app.home,
        step="collectstatic",
        hint="fix the Django settings error above and run `warp build` again",
    )
    if answer.get("skipped"):
        report(f"        skipped: {answer['skipped']}")
        return None
    where = "" if answer.get("static_root_from") == "settings" else " (warp's directory; the project sets no STATIC_ROOT)"
    report(f"        {answer.get('summary', '')} -> {answer['static_root']}{where}")
    return answer["static_root"]

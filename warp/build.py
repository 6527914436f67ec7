"""Carry out a BuildPlan: hooks, installs, collectstatic, the build record."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import warp
from warp import __version__, proc
from warp.context import Context, Report, scan_digests, scan_installed
from warp.errors import EnvError, StepFailed
from warp.plan import BuildPlan, Installer, find_dependency_inputs, find_installer, make_build_plan
from warp.venv import Env, find_uv



def find_hooks_dir() -> Path:
    """The hooks/ scripts: package warp.hooks when installed, ../hooks in a source checkout."""
    try:
        import warp.hooks

        return Path(warp.hooks.__file__).resolve().parent
    except ImportError:
        return Path(warp.__file__).resolve().parent.parent / "hooks"


HOOKS_DIR = find_hooks_dir()

APXS_HINT = (
    "install Apache's development files: apt-get install apache2-dev apache2-bin (Debian/Ubuntu), "
    "dnf install httpd-devel (RHEL/Fedora), brew install httpd (macOS)"
)


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
    )
    return plan, installer


def run_build(ctx: Context, report: Report, *, force: bool = False, wait: bool = True) -> dict:
    with hold_build_lock(ctx.env, report, wait=wait):
        plan, installer = make_plan(ctx)
        for warning in plan.warnings:
            report(f"warning: {warning}")
        record = ctx.env.read_record()
        unchanged = not force and record.get("state") == "ok" and record.get("fingerprint") == plan.fingerprint
        if not unchanged:
            ctx.env.clear_record()
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
            elif step.kind == "install":
                if unchanged:
                    report(" -----> Dependencies unchanged, skipping install (use --force to reinstall)")
                    continue
                report(f" -----> {step.title}")
                proc.run(step.argv, env=environ, cwd=ctx.source, step=step.title, hint="fix the requirement named above and run `warp build` again")
            elif step.kind == "server":
                if unchanged:
                    continue
                _ensure_server(ctx, step, environ, report)
            elif step.kind == "collectstatic":
                collected = _collectstatic(ctx, step.title, environ, report)
            timings[step.kind] = timings.get(step.kind, 0.0) + round(time.monotonic() - started, 3)
        finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        new_record = {
            "state": "ok",
            "fingerprint": plan.fingerprint,
            "server": plan.server,
            "installer": installer.name,
            "python": ctx.env.read_meta().get("python_version"),
            "static_root": collected,
            "timings": timings,
            "finished": finished,
            "skipped_install": unchanged,
        }
        ctx.env.write_record(new_record)
        ctx.env.update_meta(last_build=finished)
        report(f" -----> Build of env {ctx.env.name} finished")
        return new_record


def _ensure_server(ctx: Context, step, environ, report: Report) -> None:
    installed = scan_installed(ctx.env)
    missing = [package for package in step.packages if package not in installed]
    if not missing:
        report(f" -----> {', '.join(step.packages)} already installed")
        return
    if "mod-wsgi" in missing and not (shutil.which("apxs") or shutil.which("apxs2") or os.environ.get("MOD_WSGI_APXS")):
        raise StepFailed("mod_wsgi needs Apache's apxs tool to build, and it was not found", hint=APXS_HINT)
    report(f" -----> Installing {', '.join(missing)}")
    proc.run(step.argv + tuple(missing), env=environ, cwd=ctx.source, step=f"Installing {', '.join(missing)}",
             hint="see the installer's output above")


def run_collectstatic(ctx: Context, report: Report) -> str | None:
    """Collect Django's static files again (after a static file changed under --reload)."""
    return _collectstatic(ctx, "Collecting Django static files", ctx.app_environ(), report)


def _collectstatic(ctx: Context, title: str, environ, report: Report) -> str | None:
    report(f" -----> {title}")
    environ = {**environ, "WARP_STATIC_FALLBACK": str(ctx.env.static_root)}
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

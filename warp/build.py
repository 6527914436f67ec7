"""Carry out a BuildPlan: hooks, installs, collectstatic, the build record."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from warp import __version__, proc, servers
from warp.config import lockfiles
from warp.config.settings import WARP_CACHE_DIR, WARP_NO_CACHE, parse_flag
from warp.context import Context
from warp.env import pythons, wheelstore
from warp.env.inputs import scan_digests, scan_dist_infos, scan_incomplete, scan_installed
from warp.env.venv import Env, drop_world_write, find_uv, hold_lock, recreate_env
from warp.env.wheelstore import find_requirement_name
from warp.errors import EnvError, StepFailed, UsageError, disk_full_as_error
from warp.hookdir import HOOKS_DIR
from warp.plan import BuildPlan, Installer, find_dependency_inputs, find_installer, find_servers_named, find_workspace_member, make_build_plan
from warp.report import SHOW_AFTER, Report, working
from warp.run import claims


@contextmanager
def hold_build_lock(env: Env, report: Report, *, wait: bool = True):
    """One build per env at a time: the second waits (or fails with --no-wait)."""
    env.state.mkdir(parents=True, exist_ok=True)

    def waiting() -> None:
        if not wait:
            raise EnvError(f"another build of env {env.name!r} is running", hint="wait for it, or drop --no-wait to queue")
        report(f" -----> Waiting for another build of env {env.name} to finish")

    with hold_lock(env.lock_path, waiting):
        yield


def scan_build_plan(ctx: Context) -> tuple[BuildPlan, Installer]:
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


class PythonNeeded(StepFailed):
    """The install failed because a requirement needs another Python than the env's (see pythons.find_python_need)."""

    def __init__(self, failed: StepFailed, need: pythons.PythonNeed) -> None:
        super().__init__(failed.message, hint=need.hint, detail=failed.detail, returncode=failed.returncode)
        self.need = need


def run_build(ctx: Context, report: Report, *, force: bool = False, wait: bool = True, python_taken: bool = False) -> dict:
    """The build; when a requirement needs a newer Python that the project's requires-python allows, the env is made
    again with that Python (once) and the build runs again."""
    try:
        with hold_build_lock(ctx.env, report, wait=wait):
            try:
                return _run_steps(ctx, report, force=force)
            finally:
                drop_world_write(ctx.env)
    except PythonNeeded as exc:
        if not exc.need.automatic or python_taken:
            raise
        request = pythons.find_request(ctx.settings, ctx.project)
        report(f" -----> {exc.need.hint}: making env {ctx.env.name} again with Python {exc.need.fitting.version}")
        remake_env(ctx, exc.need.fitting.path, pythons.describe_need(exc.need, request))
        return run_build(ctx, report, force=force, wait=wait, python_taken=True)


def remake_env(ctx: Context, python: str, python_from: str) -> None:
    recreate_env(ctx.env, python=python, source=ctx.source, offline=ctx.settings["offline"].value, python_from=python_from)
    ctx.cache.clear()


def _run_steps(ctx: Context, report: Report, *, force: bool) -> dict:
    """The build proper, under the env's lock: hooks, installs, collectstatic, then the record."""
    plan, installer = scan_build_plan(ctx)
    for warning in plan.warnings:
        report(f"warning: {warning}")
    record = ctx.env.read_record()
    # The inputs, and what the env holds: a package removed or changed by hand (`warp exec pip ...`) is installed again.
    unchanged = (not force and record.get("state") == "ok" and record.get("fingerprint") == plan.fingerprint
                 and record.get("installed") == make_installed_digest(scan_installed(ctx.env)))
    cut_short = record.get("state") == "building"  # the last build did not finish (killed, a full disk)
    # Until this build finishes the env is not built: one stopped in any step (collectstatic too) is repaired by the next.
    ctx.env.clear_record()
    if cut_short:
        _forget_incomplete(ctx, report)
    dists_before = {} if unchanged else scan_dist_infos(ctx.env)
    environ = ctx.app_environ()
    if installer.name == "uv":
        environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    timings: dict[str, float] = {}
    collected = None
    riders = () if unchanged else scan_riders(ctx, plan)
    rode = riders
    uncompiled = False  # set by an install, until what it installed is byte-compiled (before anything imports it)
    for step in plan.steps:
        if uncompiled and step.kind not in ("lock", "install", "server"):
            timings["compile"] = compile_installed(ctx, environ, report, installer, dists_before, again=cut_short)
            uncompiled = False
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
            if riders:
                report(f" -----> Installing {', '.join(riders)} (with the dependencies: one resolution)")
            with wheelstore.hold_offered_wheels(ctx, step, environ, report, installer) as offered:
                with working(report, f"        {installer.name} is installing the dependencies", after=SHOW_AFTER):
                    named = f" (among the dependencies, or {', '.join(riders)} for {plan.server})" if riders else ""
                    try:
                        proc.run(step.argv + offered + riders, env=environ, cwd=ctx.source, step=step.title,
                                 hint=f"fix the requirement named above{named} and run `warp build` again")
                    except StepFailed as exc:
                        if pythons.find_needed_python(exc.detail) is None:
                            raise
                        request = pythons.find_request(ctx.settings, ctx.project)
                        raise PythonNeeded(exc, pythons.find_python_need(exc.detail, request, pythons.scan_interpreters(ctx.environ))) from None
            riders = ()
            uncompiled = True
        elif step.kind == "server":
            if unchanged or rode:  # nothing to do, or its packages came with the dependencies
                continue
            _ensure_server(ctx, step, environ, report, servers.ADAPTERS[plan.server], installer)
            uncompiled = True
        elif step.kind == "collectstatic":
            collected = _collectstatic(ctx, step.title, environ, report, clear=cut_short)
        timings[step.kind] = timings.get(step.kind, 0.0) + round(time.monotonic() - started, 3)
    if uncompiled:
        timings["compile"] = compile_installed(ctx, environ, report, installer, dists_before, again=cut_short)
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    new_record = {
        "state": "ok",
        "fingerprint": plan.fingerprint,
        "server": plan.server,
        # The server stays chosen for later builds and starts until these change (see plan.find_server).
        "servers_named": find_servers_named(ctx.project.requirements_text),
        "installer": installer.name,
        "python": ctx.env.read_meta().get("python_version"),
        "static_root": collected.get("static_root") if collected else None,
        # What collectstatic read of the Django settings, for `warp plan` and the servers that map static files on
        # their command line; the server's module reads them again where it loads the app.
        "django": collected,
        "installed": make_installed_digest(scan_installed(ctx.env)),
        "timings": timings,
        "finished": finished,
        "skipped_install": unchanged,
    }
    ctx.env.update_meta(last_build=finished)
    ctx.env.write_record(new_record)  # last: the record alone says the env is built, so a write that fails leaves it unbuilt
    report(f" -----> Build of env {ctx.env.name} finished")
    return new_record


def compile_installed(ctx: Context, environ, report: Report, installer: Installer, before: dict[str, int], *, again: bool) -> float:
    """Byte-compile what uv installed (pip compiles as it installs): uv leaves it to the first import, which
    PYTHONDONTWRITEBYTECODE (set by many Dockerfiles) stops, so every start, reload and hook would compile the
    framework from source. Modules another env compiled are taken from the bytecode cache (find_cache_dir).
    ``again`` (the last build did not finish): every distribution, not only those installed now. The seconds it took."""
    started = time.monotonic()
    if installer.name != "uv":
        return 0.0
    infos = ["--all"] if again else sorted(path for path, inode in scan_dist_infos(ctx.env).items() if before.get(path) != inode)
    if not infos:
        return 0.0
    cache = find_cache_dir(ctx.environ)
    bytecode = ensure_bytecode_cache(cache, report) if cache else None
    argv = (str(ctx.env.python), str(HOOKS_DIR / "compile_site.py"), *(("--cache", str(bytecode)) if bytecode else ()), *infos)
    with working(report, "        byte-compiling what was installed", after=SHOW_AFTER):
        proc.run_json(argv, env=environ, cwd=ctx.source, step="Byte-compiling the installed packages",
                      hint="run `warp build --force` to install the env's packages again")
    return round(time.monotonic() - started, 3)


def find_cache_dir(environ) -> Path | None:
    """warp's cache of compiled modules, shared by every env of the user as uv's and pip's caches are:
    WARP_CACHE_DIR, else $XDG_CACHE_HOME/warp (~/.cache/warp); none with WARP_NO_CACHE=1."""
    if parse_flag(environ.get(WARP_NO_CACHE, "")):
        return None
    if environ.get(WARP_CACHE_DIR):
        return Path(environ[WARP_CACHE_DIR]).expanduser().absolute()
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser().absolute() / "warp"


def ensure_bytecode_cache(cache: Path, report: Report) -> Path | None:
    """The bytecode directory of the cache, made private where missing; None when it cannot be made (a read-only
    home), or, with a warning, when the cache or it is not this user's alone: what it holds becomes the code of
    every env's packages, so a directory another user can write to is not used (the cache itself may be a symlink)."""
    bytecode = cache / "bytecode"
    try:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        bytecode.mkdir(mode=0o700, exist_ok=True)
        infos = ((cache, os.stat(cache)), (bytecode, os.lstat(bytecode)))
    except OSError:
        return None
    for path, info in infos:
        if not claims.is_private_dir(info, os.geteuid()):
            report(f"warning: the bytecode cache is not used: {path} is not a private directory of this user (owner, mode or symlink)")
            report(f"         compiling without it; make it yours alone (chmod go-w), or set {WARP_CACHE_DIR} to a directory of your own")
            return None
    return bytecode


def _forget_incomplete(ctx: Context, report: Report) -> None:
    """Unregister the distributions an unfinished install left without all their files, so that this build's
    install puts them in again."""
    incomplete = scan_incomplete(ctx.env)
    if incomplete:
        report(f" -----> The last build did not finish; installing again what it left incomplete: {', '.join(sorted(incomplete))}")
        for info in incomplete.values():
            shutil.rmtree(info)


def run_wheels(ctx: Context, report: Report, dest: Path, *, sdists: tuple[str, ...] = (), also: tuple[str, ...] = (),
               constraints: Path | None = None) -> int:
    """Build a wheelhouse: the env's exact installed set once it is built (else its resolved inputs), the server, pip
    and the build backend, and ``also`` (with its dependencies, pinned by ``constraints``).

    The project itself is not included: it is installed editable from its source.
    Packages named in ``sdists`` go in as their source distributions (built where they are installed).
    The wheels are made next to ``dest``, which is replaced only when all of them are there;
    the wheels already in ``dest`` are reused as they are, so an unchanged set leaves it byte for byte the same.
    """
    files, how, _ = find_dependency_inputs(ctx.project, ctx.settings)
    environ = ctx.app_environ()
    pinned = ctx.env.state / "wheels.requirements.txt"
    if ctx.env.read_record().get("state") == "ok":
        how, lines = "exact", read_installed(ctx, environ)
    elif how == "requirements":
        lines = [f"-r {name}" for name in files]
    elif how == "project":
        lines = ["."]
    elif how != "none":
        lines = [line for line in read_lock(ctx, how, environ) if not line.startswith(("-e", "."))]
    else:
        lines = []
    server = next(step.packages for step in scan_build_plan(ctx)[0].steps if step.kind == "server")
    from_source = [line for line in lines if find_requirement_name(line) in {find_requirement_name(name) for name in sdists}]
    lines = [line for line in lines if line not in from_source]
    # The exact set has the server already; a new env is seeded with pip, setuptools and wheel (offline too).
    wanted = ([] if how == "exact" else list(server)) + ["pip", "setuptools", "wheel"]
    lines += [name for name in wanted if name not in {find_requirement_name(line) for line in lines + from_source}]
    with disk_full_as_error(writing=pinned):
        pinned.write_text("\n".join(lines) + "\n")
    building = dest.with_name(dest.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    reuse = ["--find-links", str(dest)] if dest.is_dir() else []
    pip = [str(ctx.env.python), "-m", "pip", "--disable-pip-version-check"]
    pip_wheel = pip + ["wheel", "--wheel-dir", str(building), *reuse]
    report(f" -----> Building wheels into {dest}")
    try:
        _run_wheel_step(pip_wheel + (["--no-deps"] if how == "exact" else []) + ["-r", str(pinned)], environ, ctx)
        if from_source:
            _run_wheel_step(pip + ["download", "--no-deps", "--no-binary", ":all:", "--dest", str(building), *reuse, *from_source], environ, ctx)
        if also:
            _run_wheel_step(pip_wheel + (["-c", str(constraints)] if constraints else []) + list(also), environ, ctx)
        backend = ctx.project.pyproject.get("build-system", {}).get("requires")
        if backend and how in ("project", "uv.lock", "poetry.lock", "exact") and ctx.project.pyproject.get("project"):
            try:
                proc.run(pip_wheel + list(backend), env=environ, cwd=ctx.source, step="Building wheels for the build backend")
            except StepFailed:
                report(f"warning: the build backend ({', '.join(backend)}) could not be fetched; an offline install of the project itself may need it")
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest)
    building.rename(dest)
    count = len([path for path in dest.iterdir() if path.suffix == ".whl" or path.name.endswith(".tar.gz")])
    report(f" -----> {count} packages in {dest}; build offline with WARP_PIP_NO_INDEX=1 warp build")
    return count


#: pip's words for a requirement it could not get or build, with the package in the first group.
_UNWHEELABLE = re.compile(
    r"No matching distribution found for ([^\s]+)|Failed to build '?([^\s']+)'?|Could not find a version that satisfies the requirement ([^\s]+)"
)


def _run_wheel_step(argv: list[str], environ, ctx: Context) -> None:
    """One pip wheel/download run; a requirement it cannot get is named in the error."""
    try:
        proc.run(argv, env=environ, cwd=ctx.source, step="Building wheels", hint="see pip's output above")
    except StepFailed as exc:
        match = _UNWHEELABLE.search(exc.detail)
        if match is None:
            raise
        missing, failed, unmatched = match.groups()
        if failed:
            # An sdist whose setup.py stopped: the last "Error:" line of its output says why (apxs not found, say).
            cause = [line.strip() for line in exc.detail.splitlines() if re.match(r"\s*\w*Error: ", line)]
            raise StepFailed(f"{failed} cannot be put into the wheelhouse: its source distribution failed to build"
                             + (f" ({cause[-1]})" if cause else ""),
                             hint="run the command where the env itself was built (what it compiled against must be there), "
                                  "or remove it from the env",
                             detail=exc.detail, returncode=exc.returncode) from None
        raise StepFailed(f"{missing or unmatched} cannot be put into the wheelhouse (pip has no distribution of it to build a wheel from)",
                         hint="install it from an index or a local wheel, or remove it from the env, and run the command again",
                         detail=exc.detail, returncode=exc.returncode) from None


def read_installed(ctx: Context, environ) -> list[str]:
    """The env's installed set as pinned lines, without editable installs (the project itself)."""
    text = proc.run([str(ctx.env.python), "-m", "pip", "--disable-pip-version-check", "freeze", "--all", "--exclude-editable"],
                    env=environ, cwd=ctx.source, step="Listing the env's packages")
    return [line for line in text.splitlines() if line.strip() and not line.startswith(("#", "-e"))]


def read_lock(ctx: Context, how: str, environ) -> list[str]:
    """The pinned requirement lines of the default group of a lock (or of [project] dependencies)."""
    if how == "uv.lock":
        offline = ctx.settings["offline"].value
        uv = find_uv()
        if not uv:
            raise StepFailed("uv.lock needs uv to export it, and uv was not found", hint="reinstall warp-web (uv is one of its dependencies)")
        # A workspace member: its package's locked set, exported at the workspace's root (paths are relative to it).
        member = find_workspace_member(ctx.project, ctx.settings)
        where = ctx.project.workspace.root if member else ctx.source
        text = proc.run(
            # Online, --locked also checks that uv.lock matches pyproject.toml; that check needs the index.
            [uv, "export", "--frozen" if offline else "--locked", "--no-dev", "--format", "requirements.txt",
             "--no-hashes", "--no-header", "--no-annotate", "--quiet"] + (["--offline"] if offline else [])
            + (["--package", member[1]] if member else []),
            env={**environ, "UV_PYTHON_DOWNLOADS": "never"}, cwd=where, step="Reading uv.lock",
            hint="if uv.lock is out of date, run `uv lock` and build again",
        )
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        return [re.sub(r"^(-e\s+)?\./", lambda match: f"{match.group(1) or ''}{where}/", line) for line in lines] if member else lines
    if how == "poetry.lock":
        return lockfiles.make_poetry_requirements((ctx.source / "poetry.lock").read_text())
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


def scan_riders(ctx: Context, plan: BuildPlan) -> tuple[str, ...]:
    """The server's packages that the dependencies' install can take along: those missing, when none is compiled.

    One installer run instead of two saves its start-up and a second resolution (and, with uv, a second pass over
    the env to byte-compile it); a compiled server (uWSGI, mod_wsgi) keeps its own step, for its kept wheel.
    """
    server = next((step for step in plan.steps if step.kind == "server"), None)
    if server is None or not any(step.kind == "install" for step in plan.steps):
        return ()
    adapter = servers.ADAPTERS[plan.server]
    installed = scan_installed(ctx.env)
    missing = tuple(package for package in server.packages if package not in installed)
    if adapter.compiled_as and adapter.packages[0] in missing:
        return ()
    return missing


def _ensure_server(ctx: Context, step, environ, report: Report, adapter: servers.Adapter, installer: Installer) -> None:
    installed = scan_installed(ctx.env)
    missing = [package for package in step.packages if package not in installed]
    if not missing:
        report(f" -----> {', '.join(step.packages)} already installed")
        return
    compiled = adapter.packages[0] in missing and bool(adapter.compiled_as)
    if adapter.packages[0] in missing:
        adapter.check_build(environ)
    report(f" -----> Installing {', '.join(missing)}")
    with ExitStack() as held:
        wheel = held.enter_context(wheelstore.hold_server_wheel(ctx, adapter, environ, report, installer)) if compiled and "pip" in installed else None
        wanted = tuple(f"{package}=={wheel.name.split('-')[1]}" if wheel and package == adapter.packages[0] else package for package in missing)
        # By name from the wheel's directory, not by its path: a path is recorded (direct_url.json), so `pip freeze`, and
        # with it the image's wheelhouse, would name a file of this machine (one that may be gone: a scratch directory).
        argv = step.argv + (("--find-links", str(wheel.parent)) if wheel else ()) + wanted
        with working(report, f"        {installer.name} is installing {', '.join(missing)}", after=SHOW_AFTER):
            proc.run(argv, env=environ, cwd=ctx.source, step=f"Installing {', '.join(missing)}", hint="see the installer's output above")


def run_collectstatic(ctx: Context, report: Report) -> dict | None:
    """Collect Django's static files again (a collected source or the settings changed under --reload)."""
    return _collectstatic(ctx, "Collecting Django static files", ctx.app_environ(), report)


def make_installed_digest(installed) -> str:
    """What the env holds, by distribution and version."""
    import hashlib

    return hashlib.sha256(repr(sorted(installed.items())).encode()).hexdigest()


def _collectstatic(ctx: Context, title: str, environ, report: Report, *, clear: bool = False) -> dict | None:
    """collectstatic, on every build: Django copies only what changed, and only Django knows every source (each
    installed app's static folder, STATICFILES_DIRS wherever they point). What it read of the settings, or None
    when the project has no staticfiles app. With ``clear`` the static root is emptied first: a copy cut short
    looks newer than its source, and would stay."""
    report(f" -----> {title}")
    environ = {**environ, "WARP_STATIC_FALLBACK": str(ctx.env.static_root), "WARP_STATIC_CLEAR": "1" if clear else ""}
    with working(report, "        Django is collecting the static files", after=SHOW_AFTER):
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
    return {key: answer.get(key) for key in ("wsgi_application", "static_url", "static_root", "whitenoise_middleware")}

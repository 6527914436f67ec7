"""Carry out a BuildPlan: hooks, installs, collectstatic, the build record."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import warp
from warp import __version__, learned, locks, proc, servers, venv, wheelstore
from warp.context import Context, Report, scan_digests, scan_incomplete, scan_installed, working
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
#: A step still running after this many seconds shows that it is working, on a terminal (see context.working).
SHOW_AFTER = 1.5

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
            with _offer_server_wheels(ctx, step, environ, report, installer) as offered:
                with working(report, f"        {installer.name} is installing the dependencies", after=SHOW_AFTER):
                    proc.run(step.argv + offered, env=environ, cwd=ctx.source, step=step.title,
                             hint="fix the requirement named above and run `warp build` again")
        elif step.kind == "server":
            if unchanged:
                continue
            _ensure_server(ctx, step, environ, report, servers.ADAPTERS[plan.server], installer)
        elif step.kind == "collectstatic":
            collected = _collectstatic_if_changed(ctx, step.title, environ, report, plan.fingerprint, again=force or cut_short, clear=cut_short)
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
    server = next(step.packages for step in make_plan(ctx)[0].steps if step.kind == "server")
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
    r"No matching distribution found for ([^\s]+)|Failed to build ([^\s]+)|Could not find a version that satisfies the requirement ([^\s]+)"
)


def _run_wheel_step(argv: list[str], environ, ctx: Context) -> None:
    """One pip wheel/download run; a requirement it cannot get is named in the error."""
    try:
        proc.run(argv, env=environ, cwd=ctx.source, step="Building wheels", hint="see pip's output above")
    except StepFailed as exc:
        match = _UNWHEELABLE.search(exc.detail)
        if match is None:
            raise
        package = next(group for group in match.groups() if group)
        raise StepFailed(f"{package} cannot be put into the wheelhouse (pip has no distribution of it to build a wheel from)",
                         hint="install it from an index or a local wheel, or remove it from the env, and run the command again",
                         detail=exc.detail, returncode=exc.returncode) from None


def find_requirement_name(line: str) -> str:
    """The normalized project name a requirement line starts with ("" for options, paths and URLs)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line.strip())
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else ""


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
        wheel = held.enter_context(_server_wheel(ctx, adapter, environ, report, installer)) if compiled and "pip" in installed else None
        argv = step.argv + tuple(str(wheel) if wheel and package == adapter.packages[0] else package for package in missing)
        with working(report, f"        {installer.name} is installing {', '.join(missing)}", after=SHOW_AFTER):
            proc.run(argv, env=environ, cwd=ctx.source, step=f"Installing {', '.join(missing)}", hint="see the installer's output above")


@contextmanager
def _offer_server_wheels(ctx: Context, step, environ, report: Report, installer: Installer):
    """When the dependencies name a compiled server that the env lacks, its wheel (kept, or built now and kept) is
    offered to their install (``--find-links``), so the installer does not compile it again."""
    installed = scan_installed(ctx.env)
    lines = scan_requirement_lines(ctx.source, step.argv) if "pip" in installed else []
    with ExitStack() as held:
        offered: tuple[str, ...] = ()
        for adapter in servers.ADAPTERS.values():
            requirement = find_requirement_line(lines, adapter.packages[0]) if adapter.compiled_as else None
            if requirement is not None and adapter.packages[0] not in installed:
                adapter.check_build(environ)
                wheel = held.enter_context(_server_wheel(ctx, adapter, environ, report, installer, requirement))
                offered += ("--find-links", str(wheel.parent)) if wheel else ()
        yield offered


def scan_requirement_lines(source: Path, argv) -> list[str]:
    """The requirement lines of the files an install's ``-r`` options name, and of the files those include."""
    lines: list[str] = []
    pending = [Path(value) for option, value in zip(argv, argv[1:]) if option in ("-r", "--requirement")]
    seen: set[Path] = set()
    while pending:
        path = pending.pop()
        path = Path(os.path.normpath(path if path.is_absolute() else source / path))
        if path in seen:
            continue
        seen.add(path)
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
            words = line.split(None, 1)
            if len(words) == 2 and words[0] in ("-r", "--requirement"):
                pending.append(path.parent / words[1])
            elif line and not line.startswith("-"):
                lines.append(line)
    return lines


def find_requirement_line(lines: list[str], package: str) -> str | None:
    """The line that requires ``package`` (its options, such as --hash, left out), or None."""
    wanted = find_requirement_name(package)
    for line in lines:
        if find_requirement_name(line) == wanted:
            return re.split(r"\s--?[a-z]", line, maxsplit=1)[0].strip()
    return None


@contextmanager
def _server_wheel(ctx: Context, adapter: servers.Adapter, environ, report: Report, installer: Installer, requirement: str = ""):
    """The wheel of a compiled server for this env: the one kept in WARP_HOME for the env's build configuration
    (see warp.wheelstore) when it is of the newest version the index has, else built now and kept; None when
    the requirement does not apply here (its markers) or pip made no wheel (the installer then does as it would).

    uv finds the newest version (from the kept wheel's metadata when it is that version: no build); pip builds
    the wheel when none is kept (uv keeps no wheel file of its own), so a new release is compiled once.
    """
    package = adapter.packages[0]
    requirement = requirement or package
    python = wheelstore.run_python_facts(ctx.env.python, environ, ctx.source)
    facts = {
        "package": package,
        "python": python,
        "variables": wheelstore.find_build_variables(environ, adapter.build_variables),
        "server": adapter.scan_build_facts(environ),
    }
    store = wheelstore.find_store_dir(ctx.warp_home, package, facts)
    store.mkdir(parents=True, exist_ok=True)
    sources = ["--find-links", str(store)] + (["--find-links", str(installer.find_links)] if installer.find_links else [])
    sources += ["--no-index"] if installer.offline else []
    with venv.hold_lock(store / ".lock"):  # another env building the same server waits, then reuses its wheel
        wheelstore.write_store_facts(store, facts)
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=store))
        try:
            with working(report, f"        {installer.name} is finding the version of {adapter.compiled_as} to install", after=SHOW_AFTER):
                version = _find_newest_version(ctx, requirement, sources, environ, installer, building)
            if version == "":
                yield None
                return
            wheel = wheelstore.find_kept_wheel(store, package, version)
            if wheel is None:
                wheel, compiled = _build_wheel(ctx, adapter, f"{package}=={version}" if version else requirement, sources,
                                               environ, installer, building, python["version"], report)
                if wheel is None:
                    yield None
                    return
                if compiled:
                    os.replace(wheel, store / wheel.name)
                    yield store / wheel.name
                    return
                if not (store / wheel.name).is_file():
                    yield wheel  # a wheel pip found elsewhere (a wheelhouse, the index): installed, not kept
                    return
                wheel = store / wheel.name
            report(f"        reusing the {adapter.compiled_as} {wheel.name.split('-')[1]} wheel built for Python {python['version']} ({wheel})")
            yield wheel
        finally:
            shutil.rmtree(building, ignore_errors=True)


def _find_newest_version(ctx: Context, requirement: str, sources: list[str], environ, installer: Installer, scratch: Path) -> str | None:
    """The version an install of ``requirement`` would take now, as uv resolves it ("" when it takes none here);
    None without uv (pip then decides)."""
    if installer.name != "uv" or not installer.uv:
        return None
    package = find_requirement_name(requirement)
    wanted = scratch / "server.in"
    wanted.write_text(requirement + "\n")
    text = proc.run([installer.uv, "pip", "compile", "--python", str(ctx.env.python), *sources, "--no-header", "--no-annotate",
                     "--quiet", str(wanted)], env=environ, cwd=ctx.source, step=f"Finding the version of {package} to install",
                    hint="see the installer's output above")
    for line in text.splitlines():
        name, _, version = line.strip().partition("==")
        if version and find_requirement_name(name) == find_requirement_name(package):
            return version.strip()
    return ""


#: uv's settings for the index, and pip's names for them (uv takes the same forms: URLs, space separated).
_PIP_INDEX_VARIABLES = (("UV_DEFAULT_INDEX", "PIP_INDEX_URL"), ("UV_INDEX_URL", "PIP_INDEX_URL"), ("UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL"))


def _build_wheel(ctx: Context, adapter: servers.Adapter, requirement: str, sources: list[str], environ, installer: Installer,
                 dest: Path, python_version: str, report: Report) -> tuple[Path | None, bool]:
    """pip's wheel of ``requirement`` in ``dest`` (None if it made none), and whether pip compiled it (rather than
    found a wheel); a compile is shown while it runs (context.working)."""
    package = adapter.packages[0]
    pip_environ = dict(environ)
    if installer.name == "uv":
        for uv_name, pip_name in _PIP_INDEX_VARIABLES:
            if environ.get(uv_name) and not environ.get(pip_name):
                pip_environ[pip_name] = environ[uv_name]
    pip_environ.pop("PIP_QUIET", None)  # its lines name the version it takes
    found: list[tuple[str, str]] = []
    with ExitStack() as live:

        def show(line: str) -> None:
            file = wheelstore.find_distribution_file(line, package)
            if file is None or found:
                return
            found.append(file)
            version, kind = file
            if kind == "sdist":
                live.enter_context(working(
                    report,
                    f"        compiling {adapter.compiled_as} {version} for Python {python_version}"
                    f" (about {adapter.compile_seconds} s, the first time)",
                    f"        compiled {adapter.compiled_as} {version} in {{seconds:.1f}} s; later envs with this Python reuse it",
                ))

        proc.run_shown([str(ctx.env.python), "-m", "pip", "--disable-pip-version-check", "wheel", "--no-deps", "--no-cache-dir",
                        *sources, "--wheel-dir", str(dest), requirement],
                       env=pip_environ, cwd=ctx.source, step=f"Building {package}", show=show, hint="see pip's output above")
    return next(dest.glob("*.whl"), None), bool(found) and found[0][1] == "sdist"


def run_collectstatic(ctx: Context, report: Report) -> str | None:
    """Collect Django's static files again (after a static file changed under --reload)."""
    return _collectstatic(ctx, "Collecting Django static files", ctx.app_environ(), report)


def _collectstatic_if_changed(ctx: Context, title: str, environ, report: Report, fingerprint: str, *, again: bool, clear: bool) -> str | None:
    """collectstatic, unless nothing it reads changed since it last ran: the project's files (static
    sources and settings), the installed set, the app's environment, and the collected files themselves."""
    stamp = ctx.env.run_dir / "collectstatic.json"
    try:
        saved = json.loads(stamp.read_text())
    except (OSError, ValueError):
        saved = None
    if not again and isinstance(saved, dict) and saved.get("inputs") == _static_inputs(ctx, environ, fingerprint, saved.get("static_root")):
        report(" -----> Django static files unchanged, skipping collectstatic (use --force to collect again)")
        return saved.get("static_root")
    stamp.unlink(missing_ok=True)
    root = _collectstatic(ctx, title, environ, report, clear=clear)
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"static_root": root, "inputs": _static_inputs(ctx, environ, fingerprint, root)}))
    except OSError:
        pass  # only a shortcut for the next build
    return root


def _static_inputs(ctx: Context, environ, fingerprint: str, root: str | None) -> dict:
    target = Path(root) if root else None
    return {
        "build": fingerprint,
        "environ": learned.hash_environ(environ),
        "project": learned.scan_files(ctx.source, (ctx.env.path, *((target,) if target else ()))),
        "collected": learned.scan_files(target) if target and target.is_dir() else None,
    }


def _collectstatic(ctx: Context, title: str, environ, report: Report, *, clear: bool = False) -> str | None:
    """With ``clear`` the static root is emptied first: a copy cut short looks newer than its source, and would stay."""
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
    return answer["static_root"]

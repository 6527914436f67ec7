"""Carry out exports: gather the deployment facts, write rendered files, build an image.

The package's renderers are pure; this module is where an export touches the machine (the env's record, files,
container engines, warp's own wheel)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.metadata
import os
import pwd
import re
import shlex
import shutil
import sys
import zipfile
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

import warp
from warp import __version__, build, proc, servers
from warp.config.envfile import find_env_file_quirks
from warp.config.settings import Settings, Value
from warp.context import Context
from warp.deploy import base, container, s2i
from warp.env.inputs import scan_digests
from warp.errors import EnvError, StepFailed, UsageError, WarpError
from warp.hookdir import HOOKS_DIR
from warp.plan import StartPlan, find_dependency_inputs
from warp.report import Report
from warp.run import start

#: Engines tried in this order; each is used only when `ENGINE info` shows a working engine.
ENGINES = ("docker", "podman", "buildah")


def keep_local(ctx: Context) -> Context:
    """On this machine the web server is in front: unless a host is set, the app listens on loopback only."""
    if not ctx.settings["host"].is_default:
        return ctx
    values = {**ctx.settings, "host": Value("127.0.0.1", "the web server in front runs on this machine")}
    return dataclasses.replace(ctx, settings=Settings(values))


def scan_deploy_plan(ctx: Context, *, local: bool) -> StartPlan:
    """The StartPlan of the built env. Behind nginx on this machine, a server gets its adapter's default socket, if any."""
    if ctx.settings["reload"].value:
        raise UsageError("--reload is a development mode and is not exported", hint="leave out --reload")
    if ctx.env.read_record().get("state") != "ok":
        raise EnvError(f"env {ctx.env.name!r} has no successful build", hint="run `warp build` first: exports describe a built env")
    plan = start.scan_start_plan(ctx, local_socket=local)
    start.check_server_installed(ctx, plan)
    return plan


def make_deployment(ctx: Context, plan: StartPlan, *, platform: bool, listen: str = "80", processes=None) -> base.Deployment:
    return base.Deployment(
        name=ctx.env.name,
        source=ctx.source,
        warp_home=ctx.warp_home,
        warp=(sys.executable, "-m", "warp"),
        start_args=base.make_start_args(plan, ctx.settings, platform=platform),
        python_version=ctx.env.read_meta().get("python_version") or f"{sys.version_info[0]}.{sys.version_info[1]}",
        warp_version=__version__,
        user=pwd.getpwuid(ctx.env.path.stat().st_uid).pw_name,
        dependency_files=find_layer_files(ctx),
        listen=listen,
        base_image=ctx.settings["base_image"].value or "",
        probe_hooks=tuple(name for name in ("alive", "ready") if name in ctx.project.hooks),
        secret_names=tuple(key for key, _ in ctx.project.environment),
        processes=processes,
    )


def find_layer_files(ctx: Context) -> tuple[str, ...]:
    """The files the image's dependency layer copies: requirements (and their includes) or Pipfile.lock.

    Only those install without the project's source; a lock of a package installs it
    editable, so such a project gets one build after the whole source is copied.
    """
    found, how, _ = find_dependency_inputs(ctx.project, ctx.settings)
    if how == "requirements":
        names = scan_digests(ctx.source, found)
    elif how == "Pipfile.lock":
        names = found
    else:
        return ()
    inside = [name for name in names if not Path(name).is_absolute() and ".." not in Path(name).parts]
    return tuple(sorted(inside)) if len(inside) == len(names) else ()


def write_files(out: Path, files: list[base.File], force: bool, report: Report, elsewhere: str = "") -> list[Path]:
    """Write every file under ``out``; an existing file with other content is kept unless ``force``.

    All files are checked before any is written, so a refusal leaves nothing half done.
    """
    targets = [(out / file.path, file) for file in files]
    for path, file in targets:
        if path.exists() and not force and _read(path) != file.text:
            raise UsageError(f"{path} exists and differs from what warp would write", hint="pass --force to overwrite it" + (f", or {elsewhere} to write elsewhere" if elsewhere else ""))
    written = []
    for path, file in targets:
        if path.exists() and _read(path) == file.text:
            report(f" -----> {path} (unchanged)")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(file.text)
            report(f" -----> Wrote {path}")
        os.chmod(path, file.mode)
        written.append(path)
    return written


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def find_engine(report: Report) -> tuple[str | None, list[str]]:
    """The first container engine whose `info` works, and why each one before it did not."""
    reasons = []
    for name in ENGINES:
        path = shutil.which(name)
        if not path:
            continue
        try:
            proc.run([path, "info"], env=os.environ, cwd=Path.cwd(), step=f"{name} info")
        except StepFailed as exc:
            lines = [line for line in exc.detail.splitlines() if line.strip()]
            reasons.append(f"{name}: {lines[-1].strip() if lines else exc.message}")
            continue
        return name, reasons
    return None, reasons or ["no docker, podman or buildah on PATH"]


def make_build_argv(engine: str, containerfile: Path, tag: str, context_dir: Path) -> list[str]:
    """podman and buildah build OCI images unless told, and OCI has no HEALTHCHECK: docker's format keeps it."""
    formats = ["--format", "docker"] if Path(engine).name in ("podman", "buildah") else []
    return [engine, "build", *formats, "-f", str(containerfile), "-t", tag, str(context_dir)]


#: What an engine says when this machine's kernel refuses what its defaults ask, and the containers.conf line that fixes it.
_CANNOT_RUN = (
    (re.compile(r"rlimit|RLIMIT_", re.IGNORECASE), "[containers] default_ulimits = []"),
    (re.compile(r"cgroups? in hybrid mode|cgroup.*not supported", re.IGNORECASE), '[engine] runtime = "runc" and cgroup_manager = "cgroupfs"'),
)


def find_engine_fix(output: str) -> list[str]:
    """The containers.conf settings that would let the engine run here, from its error output."""
    return [setting for pattern, setting in _CANNOT_RUN if pattern.search(output)]


def make_cannot_run(engine: str, exc: StepFailed) -> WarpError:
    """The engine's failure as an error naming the setting that fixes it, when its output says which."""
    fixes = find_engine_fix(exc.detail)
    if not fixes:
        return exc
    lines = [line.strip() for line in exc.detail.splitlines() if line.strip()]
    return WarpError(
        f"{engine} cannot run containers on this machine: {lines[-1] if lines else exc.message}",
        hint=f"set {' and '.join(fixes)} in a containers.conf and point CONTAINERS_CONF at it "
             "(or write it to ~/.config/containers/containers.conf), then run `warp image` again",
        detail=exc.detail,
    )


def run_image(ctx: Context, containerfile: Path, tag: str, port: int, report: Report, *, context_dir: Path | None = None,
              done: str = "") -> None:
    """Build the image with a working engine and check that it runs here, or say how to build it once there is one."""
    engine, reasons = find_engine(report)
    argv = make_build_argv(engine or "docker", containerfile, tag, context_dir or ctx.source)
    if engine is None:
        for reason in reasons:
            report(f"warning: {reason}")
        report(f" -----> The Containerfile is ready; no working container engine here. Build it with: {shlex.join(argv)}")
        report("        (or podman build --format docker / buildah build --format docker with the same arguments)")
        return
    report(f" -----> Building image {tag} with {engine}")
    try:
        proc.run_shown(argv, env=os.environ, cwd=context_dir or ctx.source, step=f"{engine} build", show=lambda line: report(f"        {line}"))
        # A build can work where a container cannot start (the kernel refuses the engine's limits): try one.
        proc.run([engine, "run", "--rm", "--network", "none", tag, "warp", "--version"], env=os.environ, cwd=ctx.source,
                 step=f"{engine} run {tag}")
    except StepFailed as exc:
        raise make_cannot_run(engine, exc) from None
    secrets = " --env-file .warp/environment" if ctx.project.environment else ""
    report(done or f" -----> Built image {tag}; run it with: {engine} run{secrets} -p {port}:{port} {tag}")
    if secrets:
        report_env_file_quirks(ctx, f"{engine}'s --env-file", report)


def report_env_file_quirks(ctx: Context, reader: str, report: Report) -> None:
    """Warn of the .warp/environment lines that ``reader`` (docker's --env-file, kubectl's --from-env-file) reads
    otherwise than warp."""
    quirks = find_env_file_quirks(ctx.source / ".warp" / "environment")
    if quirks:
        report(f"warning: .warp/environment line(s) {', '.join(map(str, quirks))} use export or quotes, which {reader} "
               "reads otherwise (an export line is no assignment to it, and quotes stay in the value); write them as plain KEY=VALUE")


# ---------------------------------------------------------------- the wheelhouse


def run_image_wheelhouse(ctx: Context, report: Report) -> Path:
    """The build context's wheelhouse: warp's own wheel and its dependencies, the env's exact set, the server's.

    Compiled servers (uWSGI, mod_wsgi) go in as sdists, built in the image's build stage:
    a wheel made here links the Python and (for mod_wsgi) the Apache of this machine, which
    are not python:X.Y-slim's. Every other wheel is made here for the env's Python, and
    fits an image of the same Python on the same architecture (Linux).
    """
    if not sys.platform.startswith("linux"):
        report(f"warning: the wheels are made for this machine ({sys.platform}); an image needs Linux wheels of the same architecture")
    dest = ctx.source / container.WHEELHOUSE
    scratch = ctx.env.state / "image"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    wheel, constraints = write_warp_parts(scratch)
    compiled = tuple(name for adapter in servers.ADAPTERS.values() if adapter.image_build_packages for name in adapter.packages)
    try:
        build.run_wheels(ctx, report, dest, sdists=compiled, also=(str(wheel),), constraints=constraints)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dest


def run_s2i_builder(ctx: Context, plan: StartPlan, tag: str, report: Report) -> None:
    """An S2I builder image: warp and its dependencies from wheels made here, the scripts `warp s2i` wrote."""
    context_dir = ctx.env.state / "s2i-builder"
    shutil.rmtree(context_dir, ignore_errors=True)
    (context_dir / "wheelhouse").mkdir(parents=True)
    shutil.copytree(ctx.source / ".s2i" / "bin", context_dir / "bin")
    wheel, constraints = write_warp_parts(context_dir)
    report(" -----> Building the wheels of warp for the builder")
    proc.run([str(ctx.env.python), "-m", "pip", "--disable-pip-version-check", "wheel", "--wheel-dir", str(context_dir / "wheelhouse"),
              "-c", str(constraints), str(wheel)], env=ctx.app_environ(), cwd=ctx.source, step="Building wheels", hint="see pip's output above")
    dep = make_deployment(ctx, plan, platform=True)
    write_files(context_dir, s2i.render_builder(plan, dep), True, report)
    run_image(ctx, context_dir / "Containerfile", tag, plan.port, report, context_dir=context_dir,
              done=f" -----> Built builder image {tag}; use it with: s2i build <source> {tag} <application image>")


def write_warp_parts(dest: Path) -> tuple[Path, Path]:
    """warp's wheel and a constraints file pinning its dependencies to what runs here, both written into ``dest``."""
    constraints = dest / "constraints.txt"
    constraints.write_text("\n".join(find_warp_pins()) + "\n")
    return write_warp_wheel(dest), constraints


def find_warp_pins() -> list[str]:
    """name==version of what this warp runs with (its dependencies, and theirs), as installed here."""
    pins, todo, seen = [], ["warp-web"], set()
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if key != "warp-web":
            pins.append(f"{key}=={dist.version}")
        for line in dist.requires or []:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sorted(pins)


def write_warp_wheel(dest: Path) -> Path:
    """A wheel of the warp that runs here (a source checkout or an install), the same bytes for the same files.

    Fixed timestamps and order: an unchanged warp leaves the wheelhouse, and so the image's layers, unchanged.
    """
    dist = importlib.metadata.distribution("warp-web")
    version = dist.version
    info = f"warp_web-{version}.dist-info"
    files: dict[str, bytes] = {}
    package = Path(warp.__file__).resolve().parent
    for root, arcroot in ((package, "warp"), (HOOKS_DIR, "warp/hooks")):
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" not in path.parts:
                files.setdefault(f"{arcroot}/{path.relative_to(root).as_posix()}", path.read_bytes())
    metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or f"Metadata-Version: 2.1\nName: warp-web\nVersion: {version}\n"
    files[f"{info}/METADATA"] = metadata.encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: warp\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = (dist.read_text("entry_points.txt") or "[console_scripts]\nwarp = warp.__main__:main\n").encode()
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = dest / f"warp_web-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

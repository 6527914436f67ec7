"""Carry out exports: gather the deployment facts, write rendered files, build an image."""

from __future__ import annotations

import dataclasses
import os
import pwd
import shlex
import shutil
import sys
from pathlib import Path

from warp import __version__, export, proc, start
from warp.context import Context, Report, scan_digests
from warp.errors import EnvError, StepFailed, UsageError
from warp.plan import StartPlan, find_dependency_inputs
from warp.settings import Settings, Value

#: Engines tried in this order; each is used only when `ENGINE info` shows a working engine.
ENGINES = ("docker", "podman", "buildah")


def keep_local(ctx: Context) -> Context:
    """On this machine the web server is in front: unless a host is set, the app listens on loopback only."""
    if not ctx.settings["host"].is_default:
        return ctx
    values = {**ctx.settings, "host": Value("127.0.0.1", "the web server in front runs on this machine")}
    return dataclasses.replace(ctx, settings=Settings(values))


def make_plan(ctx: Context, *, local: bool) -> StartPlan:
    """The StartPlan of the built env. Behind nginx on this machine, a server gets its adapter's default socket, if any."""
    if ctx.settings["reload"].value:
        raise UsageError("--reload is a development mode and is not exported", hint="leave out --reload")
    if ctx.env.read_record().get("state") != "ok":
        raise EnvError(f"env {ctx.env.name!r} has no successful build", hint="run `warp build` first: exports describe a built env")
    plan = start.make_plan(ctx, local_socket=local)
    start.check_server_installed(ctx, plan)
    return plan


def make_deployment(ctx: Context, plan: StartPlan, *, platform: bool, listen: str = "80") -> export.Deployment:
    return export.Deployment(
        name=ctx.env.name,
        source=ctx.source,
        warp_home=ctx.warp_home,
        warp=(sys.executable, "-m", "warp"),
        start_args=export.make_start_args(plan, ctx.settings, platform=platform),
        python_version=ctx.env.read_meta().get("python_version") or f"{sys.version_info[0]}.{sys.version_info[1]}",
        warp_version=__version__,
        user=pwd.getpwuid(ctx.env.path.stat().st_uid).pw_name,
        dependency_files=find_layer_files(ctx),
        listen=listen,
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


def write_files(out: Path, files: list[export.File], force: bool, report: Report, elsewhere: str = "") -> list[Path]:
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
    return [engine, "build", "-f", str(containerfile), "-t", tag, str(context_dir)]


def run_image(ctx: Context, containerfile: Path, tag: str, port: int, report: Report) -> None:
    """Build the image with a working engine, or say how to once there is one."""
    engine, reasons = find_engine(report)
    argv = make_build_argv(engine or "docker", containerfile, tag, ctx.source)
    if engine is None:
        for reason in reasons:
            report(f"warning: {reason}")
        report(f" -----> The Containerfile is ready; no working container engine here. Build it with: {shlex.join(argv)}")
        report("        (or podman build / buildah build with the same arguments)")
        return
    report(f" -----> Building image {tag} with {engine}")
    proc.run(argv, env=os.environ, cwd=ctx.source, step=f"{engine} build", capture=False)
    report(f" -----> Built image {tag}; run it with: {engine} run -p {port}:{port} {tag}")

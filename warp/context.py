"""Gather what one command needs: the env (made, or made again for another Python, as the project asks), the
project facts, the settings, the machine, and the environment the app's processes get."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from warp.config.machine import MachineFacts, scan_machine
from warp.config.project import AppFacts, ProjectFacts, find_package_names, scan_app, scan_project
from warp.config.settings import Settings, find_settings, find_warp_home
from warp.env import pythons, venv
from warp.env.inputs import scan_installed
from warp.errors import EnvError
from warp.frameworks import find_django_settings
from warp.report import Report


@dataclass
class Context:
    environ: dict[str, str]
    warp_home: Path
    env: venv.Env
    source: Path
    project: ProjectFacts
    settings: Settings
    app: AppFacts
    machine: MachineFacts
    #: Answers asked of the app's interpreter once per command (e.g. Django's settings).
    cache: dict = field(default_factory=dict)

    def app_environ(self, django_settings: str | None = None) -> dict[str, str]:
        return make_app_environ(
            self.environ,
            env_name=self.env.name,
            env_path=self.env.path,
            source=self.source,
            home=self.app.home,
            file_vars=self.project.environment,
            django_settings=django_settings or self.app.django_settings,
        )

    def installed(self) -> dict[str, str]:
        """The env's distributions (name -> version), read once per command."""
        if "installed" not in self.cache:
            self.cache["installed"] = scan_installed(self.env)
        return self.cache["installed"]

    @property
    def masked(self) -> frozenset[str]:
        return frozenset(key for key, _ in self.project.environment)


def create_project_env(env: venv.Env, flags: Mapping[str, Any], environ: Mapping[str, str], source: Path) -> None:
    """Create ``env`` for the project at ``source``, with the Python it asks for (see warp.env.pythons)."""
    project = scan_project(source)
    settings = find_settings(flags, environ, project.warp_files, project.tool)
    request = pythons.find_request(settings, project)
    python = pythons.find_python(request, environ)
    venv.create_env(env, python=python.path, source=source, offline=settings["offline"].value, python_from=pythons.describe_request(request))


def ensure_python(
    env: venv.Env, request: pythons.Request | None, environ: Mapping[str, str], source: Path, report: Report, *, offline: bool = False
) -> None:
    """Recreate the env when the project now asks for another Python than it has."""
    if request is None:
        return
    meta = env.read_meta()
    have = meta.get("python_version") or ""
    if pythons.is_path(request.value):
        if meta.get("python") and os.path.realpath(os.path.expanduser(request.value)) == os.path.realpath(meta["python"]):
            return  # the interpreter the env was made from: no need to run it to learn its version
        wanted = pythons.find_python(request, environ)
        if wanted.version == have:
            return
    elif pythons.matches(have, request.value):
        return
    else:
        wanted = pythons.find_python(request, environ)
    report(f" -----> Python {pythons.normalize(request.value)} requested ({request.source}); env {env.name} has {have}: recreating it")
    venv.recreate_env(env, python=wanted.path, source=source, offline=offline, python_from=pythons.describe_request(request))


def select_env(
    environ: Mapping[str, str],
    cwd: Path,
    report: Report,
    *,
    name: str | None = None,
    flags: Mapping[str, Any] | None = None,
    create: bool = True,
) -> tuple[venv.Env, Path]:
    """Find the env for this command: named, active, recorded for the project cwd is in, or new."""
    home = find_warp_home(environ)
    if name:
        env = venv.find_env(home, name)
        if env.exists():
            return env, Path(env.read_meta().get("source") or cwd)
        if not create:
            raise EnvError(f"env {name!r} does not exist", hint="see `warp list`, or create it with `warp activate NAME`")
        create_project_env(env, flags or {}, environ, cwd)
        report(f" -----> Created env {env.name} ({env.path})")
        return env, cwd
    active = environ.get("WARP_ENV_NAME", "").strip()
    if active:
        env = venv.find_env(home, active)
        if not env.exists():
            raise EnvError(
                f"the active env {active!r} no longer exists in {home / 'envs'}",
                hint='run `eval "$(warp deactivate)"` and then `eval "$(warp activate)"` to recreate it',
            )
        return env, Path(env.read_meta().get("source") or cwd)
    env, root, why = venv.find_default_env(home, cwd, environ)
    where = f"{root} ({why})" if why else str(root)
    if env.meta_path.is_file():
        if not env.python.exists():
            raise EnvError(f"env {env.name!r} is damaged (its python is missing)", hint=f"run `warp destroy {env.name} --yes` and build again")
        report(f" -----> Using env {env.name} for {where} (activate it with: eval \"$(warp activate)\")")
        return env, root
    if not create:
        raise EnvError(f"no env for {where}", hint='create one with `eval "$(warp activate)"` or `warp build`')
    create_project_env(env, flags or {}, environ, root)
    report(f" -----> Created env {env.name} for {where} (activate it with: eval \"$(warp activate)\")")
    return env, root


def load_context(flags: Mapping[str, Any], environ: Mapping[str, str], cwd: Path, report: Report, *, create: bool = True) -> Context:
    environ = dict(environ)
    env, source = select_env(environ, cwd, report, flags=flags, create=create)
    if not source.is_dir():
        raise EnvError(f"the source directory of env {env.name!r} is gone: {source}", hint=f"run `warp destroy {env.name} --yes`")
    project = scan_project(source)
    settings = find_settings(flags, environ, project.warp_files, project.tool)
    if create:
        ensure_python(env, pythons.find_request(settings, project), environ, source, report, offline=settings["offline"].value)
    app = find_django_settings(scan_app(project.root, settings["home"].value, find_package_names(project.pyproject)), project.environment, environ)
    return Context(environ, find_warp_home(environ), env, project.root, project, settings, app, scan_machine(environ))


def make_app_environ(
    base: Mapping[str, str],
    *,
    env_name: str,
    env_path: Path,
    source: Path,
    home: Path,
    file_vars: tuple[tuple[str, str], ...],
    django_settings: str | None = None,
) -> dict[str, str]:
    """The environment every step and the server run in."""
    environ = {key: value for key, value in base.items() if key not in ("PYTHONHOME", "__PYVENV_LAUNCHER__")}
    bin_dir = str(env_path / "bin")
    path = [p for p in environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":") if p and p != bin_dir]
    paths = list(dict.fromkeys([str(source), str(home)]))
    if environ.get("PYTHONPATH"):
        paths.append(environ["PYTHONPATH"])
    environ.update(
        {
            "PATH": ":".join([bin_dir] + path),
            "VIRTUAL_ENV": str(env_path),
            "PYTHONPATH": ":".join(paths),
            "WARP_ENV_NAME": env_name,
            "WARP_ENV_ROOT": str(env_path),
            "WARP_SRC_ROOT": str(source),
            "WARP_APP_ROOT": str(home),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if django_settings and "DJANGO_SETTINGS_MODULE" not in environ:
        environ["DJANGO_SETTINGS_MODULE"] = django_settings
    for key, value in file_vars:
        environ[key] = value
    return environ

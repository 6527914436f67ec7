"""Facts and helpers the planning tests share: a project, an app, settings, a machine, a start plan of a server."""

from __future__ import annotations

import ast
import dataclasses
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from warp import servers
from warp.config.machine import MachineFacts
from warp.config.project import AppFacts, HookFile, PasteServer, ProjectFacts
from warp.config.settings import Value, find_settings
from warp.errors import NoAppFound, StepFailed, UsageError
from warp.frameworks import Mode, find_mode, make_django_target
from warp.hookdir import HOOKS_DIR
from warp.plan import (
    Installer,
    StartFacts,
    find_concurrency,
    find_dependency_inputs,
    find_host,
    find_interface,
    find_server,
    make_build_plan,
    make_plan_with_paste_server,
    make_start_plan,
)
from warp.servers import HASHED_STATIC_NAME, Stop, Target, make_wrapper_source
from warp.servers.wrapper import Loading, make_asgi_wrapper_source

ROOT = Path("/srv/blog")
ENV = Path("/home/u/.warp/envs/blog")
RUN = ENV / ".warp" / "run"
HOOKS = Path("/opt/warp/hooks")
STATIC_ROOT = Path("/srv/static")
GIB = 1 << 30
WORKSTATION = MachineFacts(cpus=4, memory_bytes=16 * GIB, in_container=False, euid=1000)


def make_settings(flags=None, environ=None, files=None, tool=None):
    return find_settings(flags or {}, environ or {}, files or {}, tool or {})


def make_project(**changes) -> ProjectFacts:
    base = dict(
        root=ROOT, dependency_files=(), warp_files={}, tool={}, environment=(), hooks={}, server_args={},
        requirements_text="",
    )
    return ProjectFacts(**{**base, **changes})


def make_app(**markers) -> AppFacts:
    return AppFacts(home=ROOT, **markers)


def after(argv, flag: str, count: int = 1):
    """The value(s) following ``flag`` in argv (flag must occur exactly once)."""
    argv = list(argv)
    assert argv.count(flag) == 1, f"{flag} occurs {argv.count(flag)} times in {argv}"
    index = argv.index(flag)
    values = argv[index + 1 : index + 1 + count]
    return values[0] if count == 1 else tuple(values)


def contains_run(argv, run) -> bool:
    argv, run = list(argv), list(run)
    return any(argv[i : i + len(run)] == run for i in range(len(argv) - len(run) + 1))


UV = Installer("uv", "/usr/bin/uv", ENV / "bin" / "python")


def hook(name: str, executable: bool = True, escapes: bool = False) -> HookFile:
    return HookFile(name, ROOT / ".warp/action_hooks" / name, executable, escapes)


def build(
    *, project=None, app=None, settings=None, installer=UV, digests=None, python_version="3.12.1",
    installed=None, warp_version="0.1.0",
):
    return make_build_plan(
        project=project or make_project(dependency_files=("requirements.txt",), requirements_text="Django\n"),
        app=app or make_app(),
        settings=settings or make_settings(),
        installer=installer,
        installer_because="test",
        digests={"requirements.txt": "aaa"} if digests is None else digests,
        python_version=python_version,
        installed=installed or {},
        warp_version=warp_version,
        hooks_dir=HOOKS,
    )


def build_from_several_files():
    return build(digests={"requirements.txt": "a", "base.txt": "b", "extra.txt": "c", "constraints.txt": "d"},
                 settings=make_settings(environ={"WARP_PIP_PACKAGES": "requirements.txt base.txt extra.txt"}))


#: The socket a uWSGI behind nginx gets by default, for the blog env.
SOCK = "/run/warp/blog/uwsgi.sock"
MODULE = Target("module", module="wsgiapp", callable="wsgi_app")
SCRIPT = Target("script", script=ROOT / "site.wsgi", callable="app")
PASTE = Target("paste", ini=ROOT / "production.ini")


def with_static(target: Target, url: str = "/static/") -> Target:
    return dataclasses.replace(target, static_url=url, static_root=STATIC_ROOT)


def start(server, target, *, flags=None, environ=None, project=None, machine=WORKSTATION, versions=None,
          run_user=None, reload=False, mode=None, app_environ=None, listen_fd=None, socket_owner=None,
          default_socket=None):
    """The plan of ``server`` for ``target``, named with --app: make_start_plan with what plan_start would choose."""
    facts = make_facts(
        app=make_app(), flags={**(flags or {}), **({"reload": True} if reload else {})}, environ=environ,
        project=project or make_project(), machine=machine, app_environ=app_environ or {"PATH": "/usr/bin", "PORT": "1"},
        masked=frozenset({"SECRET"}), installed=versions or {}, run_users={server: run_user}, listen_fd=listen_fd,
        socket_owner=socket_owner, local_socket=default_socket is not None,
    )
    if default_socket is not None:
        assert servers.ADAPTERS[server].default_socket(facts.env_name) == default_socket
    return make_start_plan(facts, mode=mode or Mode("wsgi", "from --app", target), target=target, interface="wsgi",
                           interface_because="", server=server, server_because="from --server")


def generated_module(plan) -> str:
    """The module warp generates for the server: the app's one import, through warp's loader."""
    (source,) = [source for path, source in plan.files.items() if path.name in ("warp_wsgi.py", "warp_asgi.py")]
    return source


def loads(plan, kind: str, where: str, name: str) -> bool:
    return f"_warp.load({kind!r}, {where!r}, {name!r}," in generated_module(plan)


def routes(argv) -> list[str]:
    return [argv[index + 1] for index, arg in enumerate(argv) if arg == "--response-route-if"]


#: How the generated modules load the app in these tests: warp's own loader, as the servers run it.
LOADING = Loading(HOOKS_DIR / "loader.py", "gunicorn")
ASGI_LOADING = Loading(HOOKS_DIR / "loader.py", "uvicorn", interface="asgi")


def wsgi(target, **kwargs):
    return make_wrapper_source(target, LOADING, **kwargs)


def asgi(target, **kwargs):
    return make_asgi_wrapper_source(target, ASGI_LOADING, **kwargs)


ASGI_APP = Target("module", module="main", callable="app")
ASGI_MODE = Mode("asgi", "main.py defines app", ASGI_APP, "asgi")


def asgi_plan(server, target=ASGI_APP, mode=ASGI_MODE, flags=None, versions=None, reload=False, listen_fd=None):
    facts = make_facts(app=make_app(), flags={**(flags or {}), **({"reload": True} if reload else {})},
                       installed=versions or {"gunicorn": "27.0.1"}, listen_fd=listen_fd)
    return make_start_plan(facts, mode=mode, target=target, interface="asgi", interface_because=mode.because, server=server,
                           server_because="from --server")


def make_tools(directory, *names: str) -> str:
    directory.mkdir(exist_ok=True)
    for name in names:
        tool = directory / name
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    return str(directory)


def decision(plan, name):
    return next((d for d in plan.decisions if d.name == name), None)


def make_facts(app=None, flags=None, environ=None, record=None, **changes) -> StartFacts:
    base = dict(
        settings=make_settings(flags, environ), project=make_project(), app=app or make_app(wsgi_py=True, wsgi_py_has_application=True),
        machine=WORKSTATION, app_environ={"PATH": "/usr/bin"}, masked=frozenset(), env_name="blog", env_path=ENV,
        env_static_root=ENV / ".warp" / "static", runtime_dir=Path("/tmp/warp-0/0123456789ab"), hooks_dir=HOOKS,
        installed={"gunicorn": "27.0.1"}, record=record or {}, run_users={name: None for name in servers.ADAPTERS},
    )
    return StartFacts(**{**base, **changes})

"""Pure planning: project facts + settings (+ hook answers) -> BuildPlan / StartPlan.

Nothing here reads files, environment variables or the clock. Every decision
is recorded with the reason for it, so that ``warp plan`` can explain it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from warp import servers
from warp.config.lockfiles import LOCK_FILES, find_missing_poetry_package, is_poetry_package
from warp.config.machine import MachineFacts
from warp.config.project import AppFacts, HookFile, PasteServer, ProjectFacts
from warp.config.settings import Settings, Value
from warp.errors import UsageError, WarpError
from warp.frameworks import Mode, describe_django_settings, find_asgi_request, find_mode, find_shadowed, make_django_target


@dataclass(frozen=True)
class Decision:
    name: str
    value: str
    because: str


@dataclass(frozen=True)
class BuildStep:
    """One announced step of ``warp build``.

    kind: hook | install | server | collectstatic
    """

    kind: str
    title: str
    argv: tuple[str, ...] = ()
    hook: HookFile | None = None
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildPlan:
    steps: tuple[BuildStep, ...]
    fingerprint: str
    server: str
    decisions: tuple[Decision, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Installer:
    """How packages get into the env: uv (``uv pip``) or the env's own pip."""

    name: str
    uv: str | None
    python: Path
    find_links: Path | None = None
    offline: bool = False

    def make_argv(self, *args: str) -> tuple[str, ...]:
        if self.name == "uv":
            # Byte-compiled after the install by warp.build.compile_installed, which also reuses what another env
            # compiled from the same source; --compile-bytecode would compile everything it installed every time.
            base = [self.uv, "pip", "install", "--python", str(self.python)]
        else:
            base = [str(self.python), "-m", "pip", "install", "--disable-pip-version-check"]
        if self.find_links:
            base += ["--find-links", str(self.find_links)]
        if self.offline:
            base.append("--no-index")
        return tuple(base) + args


# ---------------------------------------------------------------- build


def find_installer(settings: Settings, uv: str | None) -> tuple[str, str]:
    wanted = settings["installer"]
    if wanted.value == "uv" and not uv:
        return "pip", "uv is not available on this machine"
    if wanted.is_default:
        return wanted.value, "the default (fast, and a dependency of warp)"
    return wanted.value, f"from {wanted.source}"


def find_dependency_inputs(project: ProjectFacts, settings: Settings) -> tuple[tuple[str, ...], str, str]:
    """Which files feed the install: (files, how, because).

    Order: WARP_PIP_PACKAGES > requirements.txt > uv.lock > poetry.lock >
    Pipfile.lock > pyproject [project] dependencies > setup.py/setup.cfg.
    how: requirements | uv.lock | poetry.lock | Pipfile.lock | pyproject | project | none.
    """
    named = settings["requirements"]
    if named.value:
        return tuple(named.value), "requirements", f"listed in {named.source}"
    locks = [name for name in LOCK_FILES if project.has(name)]
    if project.has("requirements.txt"):
        also = f" (it comes before {', '.join(locks)})" if locks else ""
        return ("requirements.txt",), "requirements", f"requirements.txt is present{also}"
    member = find_workspace_member(project, settings)
    workspace = project.workspace
    if member and workspace.has_lock and (not locks or (locks[0] == "uv.lock" and project.root == workspace.root)):
        files = tuple(dict.fromkeys(
            os.path.relpath(path, project.root)
            for path in (workspace.root / "uv.lock", workspace.root / "pyproject.toml", workspace.root / member[0] / "pyproject.toml")
        ))
        return files, "uv.lock", f"the uv workspace at {workspace.root} locks its member {member[0]} (package {member[1]}) in its uv.lock"
    if locks:
        lock = locks[0]
        files = (lock,) + tuple(name for name in ("pyproject.toml", "Pipfile") if project.has(name))
        because = f"{lock} is present"
        if len(locks) > 1:
            because += f"; also found {', '.join(locks[1:])}, but {lock} comes first (uv.lock > poetry.lock > Pipfile.lock)"
        return files, lock, because
    if project.pyproject.get("project", {}).get("dependencies") is not None or "build-system" in project.pyproject:
        if "build-system" in project.pyproject:
            files = tuple(name for name in ("pyproject.toml", "setup.py", "setup.cfg") if project.has(name))
            return files, "project", "pyproject.toml declares a package (build-system) and there is no requirements.txt or lock file"
        return ("pyproject.toml",), "pyproject", "pyproject.toml lists [project] dependencies and there is no requirements.txt or lock file"
    if project.has("setup.py") or project.has("setup.cfg"):
        files = tuple(name for name in ("setup.py", "setup.cfg", "pyproject.toml") if project.has(name))
        return files, "project", "setup.py/setup.cfg is present and there is no requirements.txt or lock file"
    return (), "none", "no requirements.txt, lock file, pyproject.toml or setup.py"


def find_workspace_member(project: ProjectFacts, settings: Settings) -> tuple[str, str] | None:
    """The uv workspace member the app is (its directory relative to the workspace's root, and its package):
    the project itself, run from the member's directory, or the application home (--home apps/web) in the
    workspace's root. None outside a workspace, or for the workspace's own root project."""
    if project.workspace is None:
        return None
    home = settings["home"].value
    return project.workspace.find_member(Path(os.path.normpath(project.root / home)) if home else project.root)


def find_interface(settings: Settings, mode: Mode | None, asks_asgi: str | None) -> tuple[str, str]:
    """WSGI or ASGI: --interface (WARP_INTERFACE, [tool.warp] interface) > what the entry point is by convention >
    an ASGI framework or server among the dependencies > WSGI. The server's module checks it where it loads the
    app, and stops with the fix when the app is the other kind."""
    chosen = settings["interface"]
    if chosen.value != "auto":
        return chosen.value, f"from {chosen.source}"
    if mode is not None and mode.interface:
        return mode.interface, mode.because
    if asks_asgi:
        return "asgi", asks_asgi
    return "wsgi", "no sign of ASGI (no ASGI framework or server among the dependencies)"


def find_server(
    settings: Settings, project: ProjectFacts, installed: Mapping[str, str], record: Mapping | None = None,
    interface: str = "wsgi", interface_because: str = "",
) -> tuple[str, str]:
    """The one server decision that build, start, plan, wheels and the exports share.

    A server named by the user or the project (--server, WARP_SERVER_TYPE, .warp/server_type,
    [tool.warp] server) > the last build's server, unless requirements.txt now names other
    servers than it did then > a server named in requirements.txt > one installed that is
    preferred when present (mod_wsgi, as warpdrive did) > the default for the interface.
    Each must speak the app's interface (WSGI or ASGI); a named one that does not is an error.
    """
    chosen = settings["server"]
    if chosen.value != "auto":
        why_not = servers.ADAPTERS[chosen.value].check_interface(interface, installed)
        if why_not:
            able = [a.name for a in servers.ADAPTERS.values() if a.check_interface(interface, installed) is None]
            raise UsageError(
                f"{why_not}, and the application is {interface.upper()} ({interface_because}); server from {chosen.source}",
                hint=f"use --server {' or '.join(able)}, or leave the server to warp",
            )
        return chosen.value, f"from {chosen.source}"
    speaks = [name for name, adapter in servers.ADAPTERS.items() if adapter.check_interface(interface, installed) is None]
    named = find_servers_named(project.requirements_text)
    built = (record or {}).get("server")
    if built in speaks and (record or {}).get("servers_named", []) == named:
        return built, "the server of the last `warp build` (pass --server to choose another)"
    named_speaking = [name for name in named if name in speaks]
    if named_speaking:
        return named_speaking[0], "named in requirements.txt" + (f" ({', '.join(n for n in named if n not in speaks)} cannot serve {interface.upper()})" if len(named_speaking) < len(named) else "")
    for adapter in servers.ADAPTERS.values():
        if adapter.name in speaks and adapter.preferred_when_installed and adapter.packages[0] in installed:
            return adapter.name, f"{adapter.name} is installed in the env"
    default = servers.DEFAULTS[interface]
    if interface == "asgi":
        return default, "the default for ASGI applications (the fastest of the four as warp runs them, and no errors at 500 connections; see docs/servers.md)"
    return default, "the default (pure Python, installs everywhere)"


def find_servers_named(requirements: str) -> list[str]:
    found = []
    for line in requirements.splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if not match:
            continue
        name = match.group(1).lower().replace("_", "-")
        for adapter in servers.ADAPTERS.values():
            if name in {package.replace("_", "-") for package in adapter.requirement_names} and adapter.name not in found:
                found.append(adapter.name)
    return found


def make_fingerprint(**inputs) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def make_build_plan(
    *,
    project: ProjectFacts,
    app: AppFacts,
    settings: Settings,
    installer: Installer,
    installer_because: str,
    digests: Mapping[str, str],
    python_version: str,
    installed: Mapping[str, str],
    warp_version: str,
    hooks_dir: Path,
    locked_requirements: Path = Path(".warp/requirements.locked.txt"),
    record: Mapping | None = None,
) -> BuildPlan:
    decisions = []
    warnings = []
    steps = []
    lock_installs_project = False

    hook = find_usable_hook(project, "pre-build", warnings)
    if hook:
        steps.append(BuildStep("hook", "Running pre-build hook", hook=hook))

    files, how, because = find_dependency_inputs(project, settings)
    decisions.append(Decision("dependencies", ", ".join(files) or "none", because))
    decisions.append(Decision("installer", installer.name, installer_because))
    if how == "requirements":
        args = []
        for name in files:
            args += ["-r", name]
        steps.append(BuildStep("install", f"Installing dependencies with {installer.name} ({', '.join(files)})", installer.make_argv(*args)))
    elif how == "project":
        steps.append(BuildStep("install", f"Installing the project with {installer.name} (editable)", installer.make_argv("-e", ".")))
    elif how != "none":
        # A lock (or [project] dependencies) becomes a pinned requirements file in the env, installed as is.
        pinned = str(locked_requirements)
        member = find_workspace_member(project, settings) if how == "uv.lock" else None
        read = f"the workspace's uv.lock (package {member[1]} and what it needs, exact versions)" if member else f"{how} (default group, exact versions)"
        steps.append(BuildStep("lock", f"Reading {read}", packages=(how, pinned)))
        lock_installs_project = how == "poetry.lock" and should_install_poetry_project(project, warnings)
        extra = ("-e", ".") if lock_installs_project else ()
        steps.append(BuildStep("install", f"Installing dependencies with {installer.name} ({how})", installer.make_argv("-r", pinned, *extra)))

    mode, asks_asgi = find_mode_quietly(app, settings, project)
    interface, interface_because = find_interface(settings, mode, asks_asgi)
    server, server_because = find_server(settings, project, installed, record, interface, interface_because)
    decisions.append(Decision("interface", interface, interface_because))
    decisions.append(Decision("server", server, server_because))
    adapter = servers.ADAPTERS[server]
    steps.append(BuildStep("server", f"Installing {server} if missing", installer.make_argv(), packages=adapter.find_packages(interface)))

    hook = find_usable_hook(project, "build", warnings)
    if hook:
        steps.append(BuildStep("hook", "Running build hook", hook=hook))

    if app.is_django:
        decisions.append(Decision("collectstatic", "yes", describe_django_settings(app)))
        steps.append(
            BuildStep(
                "collectstatic",
                "Collecting Django static files",
                argv=("python", str(hooks_dir / "django_collectstatic.py")),
            )
        )

    fingerprint = make_fingerprint(
        inputs=list(files),
        # every file hashed: the inputs and the files they include (-r/-c)
        digests=dict(sorted(digests.items())),
        python=python_version,
        server=server,
        interface=interface,
        installer=installer.name,
        offline=installer.offline,
        find_links=str(installer.find_links) if installer.find_links else None,
        warp=warp_version,
        # How warp installs; a new recipe installs every env once more (2: byte-compiled at install).
        recipe=2,
        lock_installs_project=lock_installs_project,  # a poetry.lock project that gains its package installs it then
    )
    return BuildPlan(tuple(steps), fingerprint, server, tuple(decisions), tuple(warnings))


def find_mode_quietly(app: AppFacts, settings: Settings, project: ProjectFacts) -> tuple[Mode | None, str | None]:
    """The entry point and whether the project asks for ASGI, for a build: a project without an app yet builds too."""
    asks_asgi = find_asgi_request(settings, project)
    try:
        return find_mode(app, settings, project), asks_asgi
    except WarpError:
        return None, asks_asgi


def should_install_poetry_project(project: ProjectFacts, warnings: list[str]) -> bool:
    """Poetry's package mode installs the project too, unless poetry-core would find no package in it (a warning)."""
    if not is_poetry_package(project.pyproject):
        return False
    missing = find_missing_poetry_package(project.pyproject, project.top_level)
    if missing:
        warnings.append(
            f"the project itself is not installed, only its dependencies: Poetry's package mode finds no package {missing} "
            f"(no {missing}/ or {missing}.py, at the top or in src/, and no [tool.poetry] packages); "
            "the app is served from the source tree (set [tool.poetry] package-mode = false to say so)"
        )
    return missing is None


def find_usable_hook(project: ProjectFacts, name: str, warnings: list[str]) -> HookFile | None:
    """The hook to run, None when there is none or it is not executable (a warning); a symlink out is refused."""
    hook = project.hooks.get(name)
    if hook is None:
        return None
    if hook.escapes_project:
        raise UsageError(
            f"hook .warp/action_hooks/{name} is a symlink to a file outside the project",
            hint="hooks must live inside the project; copy the script into .warp/action_hooks/",
        )
    if not hook.is_executable:
        warnings.append(f"hook .warp/action_hooks/{name} is not executable and was skipped (chmod +x it to run it)")
        return None
    return hook


# ---------------------------------------------------------------- start


#: What warp budgets for one worker process: the default process count fits the memory at this much each.
MEMORY_PER_PROCESS = 256 << 20


def find_concurrency(
    server: str, settings: Settings, machine: MachineFacts, reload: bool = False, interface: str = "wsgi"
) -> tuple[int, int, str]:
    """Processes and threads: flags > WARP_PROCESSES/WARP_THREADS > WEB_CONCURRENCY > a default from the machine.

    In --reload (development) mode the default is one process: restarts are quicker.
    An ASGI server runs one event loop per process, in place of threads.
    """
    cpus = max(1, math.ceil(machine.cpus))
    by_memory = max(1, (machine.memory_bytes or 1 << 40) // MEMORY_PER_PROCESS)
    default_processes = 1 if reload else max(1, min(cpus, by_memory))
    default_threads = servers.ADAPTERS[server].default_threads
    processes, threads = settings["processes"], settings["threads"]
    because = []
    p = processes.value if processes.value else default_processes
    t = threads.value if threads.value else default_threads
    if processes.value:
        because.append(f"processes from {processes.source}")
    elif reload:
        because.append("processes: one in --reload mode")
    else:
        because.append(f"processes: default for {cpus} usable CPU(s)")
    if interface == "asgi":
        t = 1
        because.append("threads: none, one event loop per process (ASGI)" + (f"; {threads.source} is not used" if threads.value else ""))
    else:
        because.append(f"threads from {threads.source}" if threads.value else "threads: default")
    return p, t, "; ".join(because)


def find_host(settings: Settings, machine: MachineFacts) -> tuple[str, str]:
    host = settings["host"]
    if host.value:
        return host.value, f"from {host.source}"
    if machine.in_container:
        return "0.0.0.0", "running inside a container"
    return "127.0.0.1", "the default on a workstation (pass --host 0.0.0.0 to listen on all interfaces)"


def find_socket(settings: Settings, server: str | None, reload: bool, default: Path | None = None) -> tuple[Path | None, str]:
    """The Unix socket to listen on instead of host:port: (path or None, because).

    ``default`` is the adapter's socket behind nginx on this machine, when no socket is set.
    """
    chosen = settings["socket"]
    adapter = servers.find_adapter(server)
    protocol = adapter.unix_protocol if adapter else None
    if chosen.value:
        if protocol is None:
            able = " or ".join(f"--server {a.name}" for a in servers.ADAPTERS.values() if a.unix_protocol)
            raise UsageError(
                f"{server or 'this mode'} cannot listen on a Unix socket (socket from {chosen.source})",
                hint=f"use {able}, or leave out the socket to listen on host:port",
            )
        if reload:
            raise UsageError("--reload serves on host:port, not on a Unix socket", hint="leave out the socket in --reload mode")
        return Path(chosen.value), f"from {chosen.source}; {protocol} protocol"
    if default is not None and not reload:
        return default, f"nginx talks to {server} over a Unix socket ({protocol} protocol); pass --socket to choose the path"
    return None, ""


def find_graceful_timeout(settings: Settings) -> tuple[int, str]:
    """Whole seconds, rounded up: gunicorn and mod_wsgi-express take nothing else, and the exports repeat it."""
    value = settings["graceful_timeout"]
    seconds = math.ceil(value.value)
    because = f"from {value.source}"
    if seconds != value.value:
        because += f" ({value.value:g}s rounded up to whole seconds, which every server takes)"
    return seconds, because


@dataclass(frozen=True)
class StartPlan:
    mode: str
    server: str | None
    host: str
    port: int
    argv: tuple[str, ...]
    environ: dict[str, str]
    cwd: Path
    stop: servers.Stop
    decisions: tuple[Decision, ...]
    prepare: tuple[tuple[str, ...], ...] = ()
    files: dict[Path, str] = field(default_factory=dict)
    masked: frozenset[str] = frozenset()
    #: Where Django's collected static files are (the reloader does not watch it), and at which URL.
    static_root: Path | None = None
    static_url: str | None = None
    #: (user, group) the server switches to, when warp runs as root (Apache refuses root).
    run_user: tuple[str, str] | None = None
    #: The directory the server generates its own files into (mod_wsgi-express's server root).
    server_root: Path | None = None
    #: The Unix socket the server listens on instead of host:port, and the protocol spoken there.
    socket: Path | None = None
    socket_protocol: str | None = None
    #: What is served (module or script): warp imports it in the env before the server starts.
    target: servers.Target | None = None
    warnings: tuple[str, ...] = ()
    #: What the adapter made the command from: --reload makes each child's command from it.
    launch: servers.Launch | None = None
    #: The file that says the app's startup failed, for a server that exits 0 then (see ServerCommand).
    failure_marker: Path | None = None
    #: The file the first server process that cannot load the app creates (warp's loader): removed before each start.
    import_marker: Path | None = None
    #: --reload forks each new server from a parked process that imported the server and the app's dependencies.
    warm: bool = False
    #: The settings module the parked process runs django.setup() with (a Django project), or None.
    warm_django: str | None = None

    @property
    def adapter(self) -> servers.Adapter | None:
        return servers.find_adapter(self.server)

    def make_command(self, **changes) -> servers.ServerCommand:
        """The server's command for this plan with ``changes`` to its launch (a new child's generation, say)."""
        return self.adapter.make_command(dataclasses.replace(self.launch, **changes))


def make_start_plan(
    facts: StartFacts, *, mode: Mode, target: servers.Target | None, interface: str, interface_because: str, server: str, server_because: str
) -> StartPlan:
    """The StartPlan for what plan_start chose (the entry point and its target, the interface, the server): the host,
    port, concurrency, socket and the server's command, every decision with its reason, and the warnings."""
    settings, app, project, env_path = facts.settings, facts.app, facts.project, facts.env_path
    reload = settings["reload"].value
    masked = facts.masked
    used, shadowed = find_shadowed(app, settings, mode)
    warnings = (
        f"more than one entry point in {app.home}: using {used} ({mode.name} mode), not {', '.join(shadowed)}; pass --mode or --app to choose",
    ) if shadowed else ()
    host, host_because = find_host(settings, facts.machine)
    port = settings["port"]
    if mode.name in ("wsgi", "asgi") and mode.interface is None and interface != mode.name:
        mode = replace(mode, name=interface)  # a named app is served as the interface it speaks
    decisions = [
        Decision("mode", mode.name, mode.because),
        Decision("reload", "yes" if reload else "no", "--reload: warp restarts the server on changes" if reload else "production mode (pass --reload to develop)"),
        Decision("host", host, host_because),
        Decision("port", str(port.value), f"from {port.source}" if not port.is_default else "the default"),
    ]
    environ = dict(facts.app_environ)
    environ.update({"PORT": str(port.value), "WARP_HTTP_PORT": str(port.value), "WARP_HTTP_HOST": host})
    timeout, timeout_because = find_graceful_timeout(settings)
    timeout_decision = Decision("graceful timeout", f"{timeout}s", timeout_because)

    if mode.name in ("shell", "python"):
        # warp stays the parent until the app listens, so an app that exits first is reported; SIGTERM is passed on.
        argv = (str(app.home / "app.sh"),) if mode.name == "shell" else (str(env_path / "bin" / "python"), "app.py")
        if reload:
            decisions.append(Decision("warm reload", "no", f"{'app.sh' if mode.name == 'shell' else 'app.py'} is its own program: each change starts it again"))
        return StartPlan(mode.name, None, host, port.value, argv, environ, app.home,
                         servers.Stop("signal", signal="SIGTERM", timeout=timeout), (*decisions, timeout_decision), masked=masked,
                         warnings=warnings)

    assert target is not None
    adapter = servers.ADAPTERS[server]
    run_user = facts.run_users.get(server)
    default_socket = adapter.default_socket(facts.env_name) if facts.local_socket else None
    decisions.append(Decision("interface", interface, interface_because))
    decisions.append(Decision("server", server, server_because))
    socket, socket_because = find_socket(settings, server, reload, default_socket)
    if socket:
        decisions.append(Decision("socket", str(socket), socket_because))
    decisions.append(Decision("application", target.spec, mode.because))
    has_static = bool(target.static_url and target.static_root)
    if has_static:
        decisions.append(Decision("static files", f"{target.static_url} -> {target.static_root}", find_static_because(target, adapter)))
    processes, threads, concurrency_because = find_concurrency(server, settings, facts.machine, reload, interface)
    decisions.append(Decision("processes x threads", f"{processes} x {threads}", concurrency_because))
    decisions.append(timeout_decision)
    extra = project.server_args.get("", ()) + project.server_args.get(server, ())
    if extra:
        decisions.append(Decision("extra server args", shlex.join(extra), ".warp/server_args"))
    if run_user:
        decisions.append(Decision("server user", run_user[0], f"{server} refuses to run as root"))
    in_src = (app.home / "src",) if target.kind == "module" and app.package_app and app.package_app[2] and target.module == app.package_app[0] else ()
    # The application home first (its wsgi.py, not one of the same name at the project's root), as warp's module sets it.
    python_path = tuple(dict.fromkeys((app.home, project.root, *in_src)))
    launch = servers.Launch(
        target=target,
        env_path=env_path,
        run_dir=env_path / ".warp" / "run",
        runtime_dir=facts.runtime_dir,
        hooks_dir=facts.hooks_dir,
        home=app.home,
        python_path=python_path,
        host=host,
        port=port.value,
        processes=processes,
        threads=threads,
        graceful_timeout=timeout,
        versions=dict(facts.installed),
        run_user=run_user,
        extra_args=tuple(extra),
        reload=reload,
        listen_fd=facts.listen_fd,
        socket=socket,
        socket_owner=facts.socket_owner if socket else None,
        interface=interface,
        lifespan=mode.name != "django",
    )
    warm, warm_django = False, None
    if reload:
        django_settings = environ.get("DJANGO_SETTINGS_MODULE") if mode.name == "django" else None
        warm, warm_because = find_warm_reload(adapter, settings["reload_warm"], django_settings)
        warm_django = django_settings if warm else None
        decisions.append(Decision("warm reload", "yes" if warm else "no", warm_because))
    if interface == "asgi":
        decisions.append(Decision("lifespan", "on" if launch.lifespan else "off", "Django has no lifespan events" if mode.name == "django"
                                  else "the app's startup and shutdown run; a failed startup stops the server"))
    command = adapter.make_command(launch)
    plan = StartPlan(
        mode.name, server, host, port.value, command.argv, environ, app.home, command.stop, tuple(decisions),
        prepare=command.prepare, files=command.files, masked=masked,
        static_root=target.static_root if has_static else None,
        static_url=target.static_url if has_static else None,
        run_user=run_user,
        server_root=command.server_root,
        socket=socket,
        socket_protocol=adapter.unix_protocol if socket else None,
        target=target,
        launch=launch,
        failure_marker=command.failure_marker,
        import_marker=servers.make_import_marker(launch),
        warm=warm,
        warm_django=warm_django,
        warnings=warnings,
    )
    return make_plan_with_paste_server(plan, facts.paste_server)


def find_warm_reload(adapter: servers.Adapter, setting: Value, django_settings: str | None = None) -> tuple[bool, str]:
    """Whether --reload forks each new server from a parked process, and why (not).

    ``django_settings``: the settings module of a Django project, which the parked process sets Django up with.
    """
    if not setting.value:
        return False, f"off (from {setting.source}): each change starts the server in a new interpreter"
    if not adapter.forks_warm:
        return False, adapter.cold_reload_because.format(name=adapter.name) + ": each change starts it in a new interpreter"
    if django_settings:
        return True, (
            f"a parked process holds {adapter.name}, the installed modules the app loads and Django set up with {django_settings} "
            "(settings, app configs, models; each server sets it up instead if that fails); each change forks it and imports the rest "
            "of the project (a new interpreter instead after a build, when the environment changes, or when a file the setup read changes)"
        )
    return True, (
        f"a parked process holds {adapter.name} and the installed modules the app loads; each change forks it and "
        "imports only the project (a new interpreter instead after a build, or when the environment changes)"
    )


def make_plan_with_paste_server(plan: StartPlan, paste: PasteServer | None) -> StartPlan:
    """Say that a paste ini's own [server:main] is not used, what runs instead, and how to follow the ini.

    Every server warp runs loads only the ini's app; the server, host and port are warp's.
    The decision follows "application"; a warning comes only when warp's choice differs from the ini's.
    """
    if paste is None or plan.target is None or plan.target.ini is None:
        return plan
    ini = plan.target.ini.relative_to(plan.cwd) if plan.target.ini.is_relative_to(plan.cwd) else plan.target.ini
    where = f"unix:{plan.socket}" if plan.socket else (f"[{plan.host}]" if ":" in plan.host else plan.host) + f":{plan.port}"
    hints = []
    if not plan.socket:
        if paste.port is not None and paste.port != plan.port:
            hints.append(f"--port {paste.port} (or set PORT={paste.port})")
        host = {"localhost": "127.0.0.1", "*": "0.0.0.0"}.get(paste.host or "", paste.host)
        if host and host != plan.host:
            hints.append(f"--host {host}")
    named = find_servers_named(re.sub(r"^(?:egg|package|call):", "", paste.use))
    if named and named[0] != plan.server:
        hints.append(f"--server {named[0]}")
    follow = f"; to follow it pass {' and '.join(hints)}" if hints else ""
    ini_server = f"{paste.use} on {paste.address}" if paste.address else paste.use
    decision = Decision(
        "paste server", f"{ini_server}, not used",
        f"warp runs {plan.server} on {where} itself (the server, host and port above), not {ini}'s [server:main]{follow}",
    )
    decisions = list(plan.decisions)
    decisions.insert(next(i + 1 for i, d in enumerate(decisions) if d.name == "application"), decision)
    warnings = (f"{ini}'s [server:main] ({ini_server}) is not used: warp runs {plan.server} on {where}{follow}",) if hints else ()
    return replace(plan, decisions=tuple(decisions), warnings=plan.warnings + warnings)


def find_static_because(target: servers.Target, adapter: servers.Adapter) -> str:
    """Who serves Django's collected static files, and how."""
    because = "from Django's STATIC_URL/STATIC_ROOT; served by "
    if target.app_serves_static:
        return because + "the app: its WhiteNoise middleware (whitenoise.middleware.WhiteNoiseMiddleware in MIDDLEWARE), so warp adds none"
    return because + f"{adapter.static_server}: hashed names cached for good (immutable), .gz/.br copies to clients that accept them"


# ---------------------------------------------------------------- the facts of a start, and the one planner


@dataclass(frozen=True)
class StartFacts:
    """Everything a start plan is made from, gathered once by the run layer (warp.run.start.scan_start_facts)."""

    settings: Settings
    project: ProjectFacts
    app: AppFacts
    machine: MachineFacts
    app_environ: Mapping[str, str]
    masked: frozenset[str]
    env_name: str
    env_path: Path
    #: Where collectstatic puts a Django project's files when its settings name no STATIC_ROOT (the env's own).
    env_static_root: Path
    runtime_dir: Path
    hooks_dir: Path
    #: Distribution -> version, of the env as it is.
    installed: Mapping[str, str]
    #: The env's build record: the last build's server, and what its collectstatic read of Django's settings.
    record: Mapping
    #: Per server, the (user, group) it must switch to under this user (Apache refuses root).
    run_users: Mapping[str, tuple[str, str] | None]
    socket_owner: tuple[str, str] | None = None
    #: The [server:main] of a paste ini the project or --app names.
    paste_server: PasteServer | None = None
    #: A socket warp binds and hands to the server (--reload).
    listen_fd: int | None = None
    #: Behind nginx on this machine: the adapter's default socket.
    local_socket: bool = False
    #: What a collectstatic under --reload read of the settings, in place of the build record's.
    django: Mapping | None = None


def plan_start(facts: StartFacts) -> StartPlan:
    """The StartPlan: the entry point, the target, the interface, the server, then its command; every decision
    with its reason, warnings included. Pure: `warp start`, `warp plan`, the exports, the image and --reload all
    plan with it."""
    settings = facts.settings
    mode = find_mode(facts.app, settings, facts.project)
    if mode.name == "django":
        answers = facts.django if facts.django is not None else facts.record.get("django") or {}
        target = make_django_target(mode, answers, facts.env_static_root)
    else:
        target = mode.target
    interface, interface_because = find_interface(settings, mode, find_asgi_request(settings, facts.project))
    server, server_because = find_server(settings, facts.project, facts.installed, facts.record, interface, interface_because)
    return make_start_plan(facts, mode=mode, target=target, interface=interface, interface_because=interface_because,
                           server=server, server_because=server_because)

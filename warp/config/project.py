"""Read-only scan of a source tree into immutable facts.

Nothing here imports application code or changes a file: the scan only looks
at which marker files exist and reads small text files.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from warp.config.envfile import scan_environment_file
from warp.config.files import is_project_file, read_project_file
from warp.errors import UsageError

DEPENDENCY_FILES = (
    "requirements.txt",
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "Pipfile",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
)
WARP_FILES = ("server_type", "home", "mode")
HOOK_NAMES = ("pre-build", "build", "deploy-cfg", "deploy", "setup", "migrate", "alive", "ready", "verify")
PASTE_FILES = ("paste.ini", "production.ini")
#: Where ASGI apps are by convention, in the order looked at, and the names each may assign its app to.
ASGI_MODULES = (("asgi", ("application", "app")), ("main", ("app",)), ("app.main", ("app",)))

_DJANGO_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE['"]\s*(?:,|\]\s*=)\s*['"]([\w.]+)['"]""")


@dataclass(frozen=True)
class HookFile:
    name: str
    path: Path
    is_executable: bool
    #: Set when the hook is a symlink that leads outside the project.
    escapes_project: bool = False


@dataclass(frozen=True)
class ProjectFacts:
    """What the source root holds: dependency files and warp's own settings."""

    root: Path
    dependency_files: tuple[str, ...]
    warp_files: dict[str, str]
    tool: dict[str, Any]
    environment: tuple[tuple[str, str], ...]
    hooks: dict[str, HookFile]
    server_args: dict[str, tuple[str, ...]]
    requirements_text: str = ""
    #: The whole parsed pyproject.toml ({} when there is none).
    pyproject: dict[str, Any] = field(default_factory=dict)
    #: The first line of .python-version, and runtime.txt's content (Heroku's "python-3.12.1").
    python_version_file: str | None = None
    runtime_txt: str | None = None
    #: The directories ("NAME/") and .py files directly in the root and in src/ ("src/NAME"): where a package could be.
    top_level: frozenset[str] = frozenset()
    #: The uv workspace the project is in, or is the root of.
    workspace: Workspace | None = None

    def has(self, name: str) -> bool:
        return name in self.dependency_files


@dataclass(frozen=True)
class AppFacts:
    """Entry-point markers found in the application home."""

    home: Path
    app_sh: bool = False
    app_sh_executable: bool = False
    app_py: bool = False
    #: The app app.py defines (``application`` or ``app``) when it runs no server itself (no ``if __name__ == "__main__"``).
    app_py_app: str | None = None
    manage_py: bool = False
    django_settings: str | None = None
    #: Where django_settings comes from: manage.py's default, unless the app's environment sets another (see
    #: frameworks.find_django_settings).
    django_settings_from: str = "manage.py"
    wsgi_py: bool = False
    wsgi_py_has_application: bool = False
    #: What wsgi.py assigns at its top level: ``application``, else ``app``.
    wsgi_py_app: str | None = None
    wsgi_package: bool = False
    paste_file: str | None = None
    #: The ASGI conventions: module -> the app it assigns at its top level, for asgi.py, main.py and app/main.py.
    asgi_modules: tuple[tuple[str, str], ...] = ()
    #: The project's own package (named by pyproject.toml), at the top or in src/, when it defines an app or a factory:
    #: (import name, what it defines, whether it is in src/).
    package_app: tuple[str, str, bool] | None = None
    #: Django's asgi.py next to its settings module (startproject writes both).
    django_asgi: bool = False
    #: Names of the files directly in the home (to tell a script path from a module).
    files: frozenset[str] = frozenset()

    @property
    def is_django(self) -> bool:
        """A Django project: a manage.py that names its settings module."""
        return bool(self.manage_py and self.django_settings)


@dataclass(frozen=True)
class PasteServer:
    """A paste ini's [server:main]: the server ``pserve`` would run, and where (warp runs its own)."""

    use: str
    #: As written: ``listen`` (Waitress), ``bind`` (gunicorn), ``unix_socket``, or ``host``/``port``; "" when none.
    address: str = ""
    #: The first host and port of the address (None when absent, or an unexpanded ``%(...)s``).
    host: str | None = None
    port: int | None = None


#: A repository's top: a project, or the workspace it is a member of, is never above it.
VCS_DIRS = (".git", ".hg", ".svn")


def scan_parents(start: Path, home: Path) -> Iterator[Path]:
    """``start`` and its parents, as far as one project can reach: up to the top of a repository (the directory
    holding .git), never the user's home directory or above it, never the file system's root, never across a mount."""
    home = home.resolve()
    directory = start
    try:
        device = start.stat().st_dev
    except OSError:
        yield start
        return
    while True:
        yield directory
        parent = directory.parent
        if any((directory / name).exists() for name in VCS_DIRS) or parent == directory or home.is_relative_to(parent):
            return
        try:
            if parent.stat().st_dev != device:
                return
        except OSError:
            return
        directory = parent


@dataclass(frozen=True)
class Workspace:
    """The uv workspace a project is a member (or the root) of: one uv.lock at its root locks every member."""

    root: Path
    has_lock: bool
    #: Each member's directory relative to the root ("apps/web") and its package name.
    members: tuple[tuple[str, str], ...] = ()

    def find_member(self, directory: Path) -> tuple[str, str] | None:
        """(relative directory, package) of the member at ``directory``, or None."""
        if not directory.is_relative_to(self.root):
            return None
        relative = directory.relative_to(self.root).as_posix()
        return next(((path, name) for path, name in self.members if path == relative), None)


def scan_workspace(root: Path, pyproject: dict[str, Any]) -> Workspace | None:
    """The uv workspace of the project at ``root``: its own [tool.uv.workspace], or the nearest parent's that
    lists it among its members (as uv finds it); None when there is none."""
    for directory in scan_parents(root, Path.home()):
        data = pyproject if directory == root else _scan_pyproject(directory / "pyproject.toml", strict=False)
        table = data.get("tool", {}).get("uv", {}).get("workspace") if isinstance(data.get("tool"), dict) else None
        if not isinstance(table, dict):
            continue
        workspace = Workspace(directory, (directory / "uv.lock").is_file(), _scan_members(directory, table))
        return workspace if directory == root or workspace.find_member(root) else None
    return None


def _scan_members(root: Path, table: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The members of a workspace: the directories its ``members`` globs match, less ``exclude``, that hold a
    pyproject.toml naming a project."""
    def matched(key: str) -> set[Path]:
        patterns = table.get(key) or []
        return {path for pattern in patterns if isinstance(pattern, str) for path in root.glob(pattern) if path.is_dir()}

    members = []
    for directory in sorted(matched("members") - matched("exclude")):
        name = _scan_pyproject(directory / "pyproject.toml", strict=False).get("project", {}).get("name")
        if isinstance(name, str):
            members.append((directory.relative_to(root).as_posix(), name))
    return tuple(members)


def scan_project(root: Path) -> ProjectFacts:
    root = root.resolve()
    warp_dir = root / ".warp"
    dependency_files = tuple(name for name in DEPENDENCY_FILES if is_project_file(root / name))
    warp_files = {name: read_project_file(warp_dir / name) for name in WARP_FILES if is_project_file(warp_dir / name)}
    pyproject = _scan_pyproject(root / "pyproject.toml")
    return ProjectFacts(
        root=root,
        dependency_files=dependency_files,
        warp_files=warp_files,
        tool=_tool_table(pyproject),
        pyproject=pyproject,
        python_version_file=_first_line(root / ".python-version"),
        runtime_txt=_first_line(root / "runtime.txt"),
        environment=scan_environment_file(warp_dir / "environment"),
        hooks=_scan_hooks(root, warp_dir / "action_hooks"),
        server_args=_scan_server_args(warp_dir / "server_args"),
        requirements_text=read_project_file(root / "requirements.txt") if "requirements.txt" in dependency_files else "",
        top_level=_scan_top_level(root),
        workspace=scan_workspace(root, pyproject),
    )


def find_package_names(pyproject: dict) -> tuple[str, ...]:
    """The import names pyproject.toml gives the project's own package: [project] name, Poetry's name and packages."""
    names = []
    poetry = pyproject.get("tool", {}).get("poetry", {})
    poetry = poetry if isinstance(poetry, dict) else {}
    for raw in (pyproject.get("project", {}).get("name"), poetry.get("name")):
        if isinstance(raw, str):
            names.append(re.sub(r"[-.]+", "_", raw).lower())
    for entry in poetry.get("packages", []) if isinstance(poetry.get("packages"), list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("include"), str):
            names.append(entry["include"].strip("/").replace("/", "."))
    return tuple(dict.fromkeys(name for name in names if re.fullmatch(r"[A-Za-z_][\w.]*", name)))


#: What the project's package is looked at for: an app, else a factory (which warp's loader calls).
PACKAGE_APP_NAMES = ("application", "app", "create_app", "make_app")


def scan_package_app(home_dir: Path, packages: tuple[str, ...]) -> tuple[str, str, bool] | None:
    for name in packages:
        for in_src, base in ((False, home_dir), (True, home_dir / "src")):
            folder = base.joinpath(*name.split("."))
            for path in (folder / "__init__.py", folder.with_suffix(".py")):
                if path.is_file():
                    defines = find_assigned_name(read_project_file(path), PACKAGE_APP_NAMES)
                    if defines:
                        return name, defines, in_src
    return None


def scan_app(root: Path, home: str, packages: tuple[str, ...] = ()) -> AppFacts:
    """Look for entry-point markers in ``root/home``; ``packages``: the project's own package names (find_package_names)."""
    home_dir = (root / home).resolve() if home else root.resolve()
    if home:
        if not home_dir.is_relative_to(root.resolve()):
            raise UsageError(f"application home {home!r} is outside the project", hint="name a subdirectory of the project")
        if not home_dir.is_dir():
            raise UsageError(
                f"application home {home!r} is not a directory in {root}",
                hint="pass --home with an existing subdirectory, or remove .warp/home",
            )
    app_sh = home_dir / "app.sh"
    manage = home_dir / "manage.py"
    wsgi = home_dir / "wsgi.py"
    django_settings = None
    if manage.is_file():
        match = _DJANGO_SETTINGS.search(read_project_file(manage))
        django_settings = match.group(1) if match else None
    paste_file = next((name for name in PASTE_FILES if (home_dir / name).is_file()), None)
    asgi_modules = []
    for module, names in ASGI_MODULES:
        path = home_dir / (module.replace(".", "/") + ".py")
        name = find_assigned_name(read_project_file(path), names) if path.is_file() else None
        if name:
            asgi_modules.append((module, name))
    app_py = home_dir / "app.py"
    app_py_text = read_project_file(app_py) if app_py.is_file() else ""
    runs_itself = re.search(r"""__name__\s*==\s*['"]__main__['"]""", app_py_text) is not None
    wsgi_text = read_project_file(wsgi) if wsgi.is_file() else ""
    django_asgi = bool(django_settings) and (home_dir / (django_settings.rpartition(".")[0].replace(".", "/") or ".") / "asgi.py").is_file()
    return AppFacts(
        home=home_dir,
        app_sh=app_sh.is_file(),
        app_sh_executable=app_sh.is_file() and os.access(app_sh, os.X_OK),
        app_py=app_py.is_file(),
        app_py_app=None if runs_itself else find_assigned_name(app_py_text, ("application", "app")),
        manage_py=manage.is_file(),
        django_settings=django_settings,
        wsgi_py=wsgi.is_file(),
        wsgi_py_has_application=wsgi.is_file() and re.search(r"\bapplication\b", wsgi_text) is not None,
        wsgi_py_app=find_assigned_name(wsgi_text, ("application", "app")),
        wsgi_package=(home_dir / "wsgi" / "__init__.py").is_file(),
        paste_file=paste_file,
        asgi_modules=tuple(asgi_modules),
        package_app=scan_package_app(home_dir, packages),
        django_asgi=django_asgi,
        files=frozenset(entry.name for entry in home_dir.iterdir() if entry.is_file()),
    )


def find_assigned_name(text: str, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` that a module's text defines at its top level (``app = ...``, ``async def app``), read, never imported."""
    for name in names:
        if re.search(rf"^(?:{name}\s*(?::[^=\n]*)?=(?!=)|(?:async\s+)?def\s+{name}\b)", text, re.MULTILINE):
            return name
    return None


def scan_paste_server(ini: Path) -> PasteServer | None:
    """The [server:main] (or [server]) section of a paste ini, as PasteDeploy finds it; None when there is none.

    Read as text (``%(here)s`` is left as written); a file that is not an ini is the server's to report, a
    missing one is warp's: the server would only say it cannot load the app.
    """
    import configparser

    if not ini.is_file():
        raise UsageError(
            f"paste file {ini} does not exist" if not ini.exists() else f"paste file {ini} is not a file",
            hint="name an existing .ini file with --app, relative to the application home",
        )
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(ini.read_text(encoding="utf-8", errors="replace"), str(ini))
    except (OSError, configparser.Error):
        return None
    main = [name for name in parser.sections() if name == "server" or (name.startswith("server:") and name[7:].strip() == "main")]
    if not main:
        return None
    options = parser[main[0]]
    use = options.get("use", "").strip()
    for key in ("listen", "bind"):
        address = options.get(key, "").strip()
        if address.startswith("unix:"):
            return PasteServer(use, address)
        if address:
            host, _, port = address.split()[0].rpartition(":")
            return PasteServer(use, address, _literal(host.strip("[]")), int(port) if port.isdigit() else None)
    if options.get("unix_socket", "").strip():
        return PasteServer(use, f"unix:{options['unix_socket'].strip()}")
    host, port = options.get("host", "").strip(), options.get("port", "").strip()
    address = f"{host}:{port}" if host and port else host or (f"port {port}" if port else "")
    return PasteServer(use, address, _literal(host), int(port) if port.isdigit() else None)


def _literal(value: str) -> str | None:
    """A value as written, None when empty or an unexpanded ``%(...)s``."""
    return value if value and "%(" not in value else None


def find_tomllib():
    """tomllib, imported when a TOML file is read (most starts read none)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib


def _scan_pyproject(path: Path, strict: bool = True) -> dict[str, Any]:
    """The parsed file, {} when there is none; one that is not TOML is an error, or (not ``strict``: a parent
    directory's, or a member's, read for the workspace) nothing."""
    if not path.is_file():
        return {}
    tomllib = find_tomllib()
    try:
        return tomllib.loads(read_project_file(path))
    except tomllib.TOMLDecodeError as exc:
        if not strict:
            return {}
        raise UsageError(f"pyproject.toml is not valid TOML: {exc}", hint="fix pyproject.toml") from None


def _scan_top_level(root: Path) -> frozenset[str]:
    names = set()
    for directory, prefix in ((root, ""), (root / "src", "src/")):
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            if entry.is_dir():
                names.add(f"{prefix}{entry.name}/")
            elif entry.suffix == ".py" and entry.is_file():
                names.add(prefix + entry.name)
    return frozenset(names)


def _first_line(path: Path) -> str | None:
    if not path.is_file():
        return None
    for line in read_project_file(path).splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()
    return None


def _tool_table(data: dict[str, Any]) -> dict[str, Any]:
    tool = data.get("tool", {})
    table = tool.get("warp", {}) if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise UsageError("[tool.warp] in pyproject.toml is not a table", hint="write it as a [tool.warp] section")
    return table


def _scan_hooks(root: Path, hooks_dir: Path) -> dict[str, HookFile]:
    hooks = {}
    if not hooks_dir.is_dir():
        return hooks
    for name in HOOK_NAMES:
        path = hooks_dir / name
        if not (path.is_file() or path.is_symlink()):
            continue
        target = path.resolve()
        hooks[name] = HookFile(
            name=name,
            path=path,
            is_executable=os.access(path, os.X_OK),
            escapes_project=not target.is_relative_to(root),
        )
    return hooks


def _scan_server_args(path: Path) -> dict[str, tuple[str, ...]]:
    args: dict[str, tuple[str, ...]] = {}
    if path.is_file():
        args[""] = _split_args(path)
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            if child.is_file():
                args[child.name] = _split_args(child)
    return args


def _split_args(path: Path) -> tuple[str, ...]:
    text = read_project_file(path)
    if "\0" in text:
        raise UsageError(f"{path} contains a NUL byte", hint="remove it; no command-line argument can hold one")
    try:
        return tuple(shlex.split(text, comments=True))
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}", hint="quote the arguments as you would in a shell") from None

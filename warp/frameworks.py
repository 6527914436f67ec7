"""What warp knows about the kinds of app it runs: entry-point detection, Django's answers.

Pure: takes the facts of a scanned app home and the settings, never imports app code.
Detection follows warpdrive's order; the first match wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from warp import servers
from warp.config.project import AppFacts, ProjectFacts
from warp.config.settings import Settings
from warp.errors import NoAppFound, UsageError


@dataclass(frozen=True)
class Mode:
    """The detected (or named) way to run the app, before asking the app anything."""

    name: str  # shell | python | django | wsgi | asgi | paste
    because: str
    target: servers.Target | None = None
    #: What the entry point is by its files: wsgi, asgi, or None (a named app: the app's interpreter says).
    interface: str | None = None


#: Distributions that make a project an ASGI one (besides the servers that speak only ASGI).
ASGI_PACKAGES = ("fastapi", "starlette", "quart", "litestar", "channels", "daphne")


def find_dependency_names(project: ProjectFacts) -> list[str]:
    """The distributions a project names: requirements.txt, then pyproject's [project] and Poetry dependencies."""
    lines = project.requirements_text.splitlines()
    lines += [str(item) for item in project.pyproject.get("project", {}).get("dependencies", []) or []]
    poetry = project.pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {})
    lines += [str(name) for name in poetry] if isinstance(poetry, dict) else []
    names = []
    for line in lines:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if match:
            name = match.group(1).lower().replace("_", "-")
            if name not in names:
                names.append(name)
    return names


def find_asgi_request(settings: Settings, project: ProjectFacts | None) -> str | None:
    """Why the project asks for ASGI (--interface, a server that speaks only ASGI, an ASGI framework); None: it does not."""
    interface = settings["interface"]
    if interface.value != "auto":
        return f"interface {interface.value} from {interface.source}" if interface.value == "asgi" else None
    if project is None:
        return None
    names = find_dependency_names(project)
    asgi_only = {
        name: adapter.name for adapter in servers.ADAPTERS.values() if "wsgi" not in adapter.interfaces for name in adapter.requirement_names
    }
    for name in names:
        if name in asgi_only or name in ASGI_PACKAGES:
            kind = "an ASGI server" if name in asgi_only else "an ASGI framework"
            return f"{name} ({kind}) is among the dependencies"
    return None


def find_mode(app: AppFacts, settings: Settings, project: ProjectFacts | None = None) -> Mode:
    """Entry point detection, warpdrive's order, then the ASGI conventions; first match wins."""
    mode = settings["mode"]
    named = settings["app"]
    if named.value:
        return _named_app(app, named.value, named.source, mode.value)
    if mode.value != "auto":
        return _forced_mode(app, mode.value, mode.source, find_asgi_request(settings, project))
    home = app.home
    if app.app_sh_executable:
        return Mode("shell", "app.sh is present and executable")
    if app.app_py and app.app_py_app:
        # Litestar's and Flask's hello worlds: app.py only defines the app; a server must run it.
        asks_asgi = find_asgi_request(settings, project)
        because = f'app.py defines {app.app_py_app} and runs no server of its own (no `if __name__ == "__main__"`)'
        return Mode("asgi" if asks_asgi else "wsgi", because, servers.Target("module", module="app", callable=app.app_py_app))
    if app.app_py:
        return Mode("python", "app.py is present and runs itself")
    if app.is_django:
        return _django_mode(app, describe_django_settings(app), find_asgi_request(settings, project))
    if app.wsgi_py and app.wsgi_py_app == "app" and not app.wsgi_py_has_application:
        return Mode("wsgi", "wsgi.py defines app", servers.Target("module", module="wsgi", callable="app"), "wsgi")
    if app.wsgi_py and app.wsgi_py_has_application:
        return Mode("wsgi", "wsgi.py defines application", servers.Target("module", module="wsgi"), "wsgi")
    if app.wsgi_package:
        return Mode("wsgi", "package wsgi/ is present", servers.Target("module", module="wsgi"), "wsgi")
    if app.paste_file:
        return Mode("paste", f"{app.paste_file} is present", servers.Target("paste", ini=home / app.paste_file), "wsgi")
    if app.asgi_modules:
        return _asgi_mode(app)
    if app.package_app:
        # Quart's tutorial, a Poetry src/ layout: the project's own package holds the app (or its factory).
        module, defines, in_src = app.package_app
        because = f"the project's package {module}{' (in src/)' if in_src else ''} defines {defines}"
        factory = defines in ("create_app", "make_app")
        target = servers.Target("module", module=module, callable="" if factory else defines)
        return Mode("asgi" if find_asgi_request(settings, project) else "wsgi", because, target)
    raise NoAppFound(
        f"no application found in {home}",
        hint="name it with --app module:callable (or a .wsgi/.py file, or a paste .ini), or --mode",
        detail="\n".join(_looked_at(app)),
    )


def find_django_settings(app: AppFacts, file_vars: tuple[tuple[str, str], ...], environ: Mapping[str, str]) -> AppFacts:
    """The settings module a Django project really runs with: .warp/environment > the environment > manage.py's
    default (manage.py only sets DJANGO_SETTINGS_MODULE when it is unset, and warp's app environment does the same)."""
    if not app.is_django:
        return app
    for value, source in ((dict(file_vars).get("DJANGO_SETTINGS_MODULE"), ".warp/environment"),
                          (environ.get("DJANGO_SETTINGS_MODULE"), "the environment variable DJANGO_SETTINGS_MODULE")):
        if value:
            if value == app.django_settings:
                return app
            return replace(app, django_settings=value, django_settings_from=f"{source}, not manage.py's default {app.django_settings}")
    return app


def describe_django_settings(app: AppFacts) -> str:
    if app.django_settings_from == "manage.py":
        return f"manage.py sets DJANGO_SETTINGS_MODULE={app.django_settings}"
    return f"manage.py is present; DJANGO_SETTINGS_MODULE={app.django_settings} from {app.django_settings_from}"


def find_shadowed(app: AppFacts, settings: Settings, mode: Mode) -> tuple[str, list[str]]:
    """The entry point detection took and the others it passed over (then the choice was ambiguous, and warp says so)."""
    if settings["app"].value or settings["mode"].value != "auto":
        return "", []
    found = [
        (kind, name)
        for kind, name, present in (
            ("shell", "app.sh", app.app_sh_executable),
            ("python" if not app.app_py_app else mode.name if mode.target and mode.target.module == "app" else "app.py", "app.py", app.app_py),
            ("django", "manage.py", app.is_django),
            ("wsgi", "wsgi.py", app.wsgi_py and (app.wsgi_py_has_application or app.wsgi_py_app == "app")),
            ("wsgi", "wsgi/", app.wsgi_package and not (app.wsgi_py and app.wsgi_py_has_application)),
            ("paste", app.paste_file or "", bool(app.paste_file)),
            *(("asgi", f"{module.replace('.', '/')}.py", True) for module, _ in app.asgi_modules[:1]),
        )
        if present
    ]
    used = next((name for kind, name in found if kind == mode.name), "")
    return used, [name for kind, name in found if kind != mode.name]


def _looked_at(app: AppFacts) -> list[str]:
    lines = ["looked for, in order:"]
    lines.append("  app.sh        " + ("present but not executable (chmod +x app.sh)" if app.app_sh else "not found"))
    lines.append("  app.py        not found")
    lines.append(
        "  manage.py     "
        + ("present but does not set DJANGO_SETTINGS_MODULE" if app.manage_py else "not found")
    )
    lines.append("  wsgi.py       " + ("present but has no 'application'" if app.wsgi_py else "not found"))
    lines.append("  wsgi/         not found")
    lines.append("  paste.ini, production.ini  not found")
    lines.append("  asgi.py, main.py, app/main.py defining application or app  not found")
    lines.append("  the package pyproject.toml names (at the top or in src/) defining application, app, create_app or make_app  not found")
    return lines


def _django_mode(app: AppFacts, because: str, asks_asgi: str | None) -> Mode:
    """Django's WSGI application, or its asgi.py when the project asks for ASGI."""
    if not asks_asgi:
        return Mode("django", because, interface="wsgi")
    package = (app.django_settings or "").rpartition(".")[0]
    if not app.django_asgi:
        where = f"{package.replace('.', '/')}/asgi.py" if package else "asgi.py"
        raise UsageError(f"the project asks for ASGI ({asks_asgi}) but {where} is missing", hint="add Django's asgi.py (startproject writes one) or pass --interface wsgi")
    module = f"{package}.asgi" if package else "asgi"
    return Mode("django", f"{because}; its {module} because {asks_asgi}", servers.Target("module", module=module), "asgi")


def _asgi_mode(app: AppFacts) -> Mode:
    module, name = app.asgi_modules[0]
    path = module.replace(".", "/") + ".py"
    return Mode("asgi", f"{path} defines {name} (an ASGI convention)", servers.Target("module", module=module, callable=name), "asgi")


def _named_app(app: AppFacts, value: str, source: str, mode: str) -> Mode:
    because = f"from {source}"
    if value.endswith(".ini"):
        return Mode("paste", because, servers.Target("paste", ini=_in_home(app, value)), "wsgi")
    script, _, script_callable = value.partition(":")
    # "mysite.wsgi" is Django's module; it is a script only when such a file exists.
    if "/" in script or script.endswith(".py") or (script.endswith(".wsgi") and script in app.files):
        callable_ = script_callable
        return Mode("wsgi", because, servers.Target("script", script=_in_home(app, script), callable=callable_ or "application"))
    module, _, callable_ = value.partition(":")
    callable_, factory = find_factory_call(callable_)
    if not re.fullmatch(r"[A-Za-z_][\w.]*", module) or (callable_ and not re.fullmatch(r"[A-Za-z_]\w*", callable_)) or factory == "":
        raise UsageError(
            (f"--app {value!r}" if source == "--app" else f"application {value!r} from {source}") + " is not module:callable",
            hint="write it as package.module:callable, e.g. --app wsgiapp:wsgi_app, or a factory called with literal arguments, "
                 "--app 'flaskr:create_app()'; or give a .wsgi/.py/.ini file",
        )
    kind = mode if mode in ("django", "asgi") else "wsgi"
    # No callable named: the server's module looks for application, app, then the factories create_app and make_app (as Flask does).
    return Mode(kind, because, servers.Target("module", module=module, callable=callable_ or "", factory=factory))


def find_factory_call(text: str) -> tuple[str, str | None]:
    """``create_app('prod')`` -> ("create_app", "('prod')"); a name alone -> (name, None); "" for the call when the
    arguments are not literals (as gunicorn, warp calls a factory only with literal arguments)."""
    import ast

    if "(" not in text:
        return text, None
    name, _, rest = text.partition("(")
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return name.strip(), ""
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        return name.strip(), ""
    try:
        for argument in [*call.args, *(keyword.value for keyword in call.keywords)]:
            ast.literal_eval(argument)
    except ValueError:
        return name.strip(), ""
    if any(keyword.arg is None for keyword in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args):
        return name.strip(), ""
    return call.func.id, "(" + rest


def _forced_mode(app: AppFacts, mode: str, source: str, asks_asgi: str | None) -> Mode:
    because = f"from {source}"
    home = app.home
    if mode == "shell":
        if not app.app_sh_executable:
            raise UsageError("mode shell needs an executable app.sh", hint="create app.sh and chmod +x it")
        return Mode("shell", because)
    if mode == "python":
        if not app.app_py:
            raise UsageError("mode python needs app.py", hint="create app.py that listens on $PORT")
        return Mode("python", because)
    if mode == "django":
        if not app.manage_py:
            raise UsageError("mode django needs manage.py", hint="run warp from the Django project's directory or pass --home")
        return _django_mode(app, because, asks_asgi)
    if mode == "asgi":
        if not app.asgi_modules:
            raise UsageError("mode asgi needs asgi.py, or main.py or app/main.py defining app", hint="or name the app with --app module:callable")
        return replace(_asgi_mode(app), because=f"{because}; {_asgi_mode(app).because}")
    if mode == "wsgi":
        if not (app.wsgi_py or app.wsgi_package):
            raise UsageError("mode wsgi needs wsgi.py or a wsgi/ package", hint="or name the app with --app module:callable")
        return Mode("wsgi", because, servers.Target("module", module="wsgi"), "wsgi")
    if not app.paste_file:
        raise UsageError("mode paste needs paste.ini or production.ini", hint="or name the file with --app FILE.ini")
    return Mode("paste", because, servers.Target("paste", ini=home / app.paste_file), "wsgi")


def _in_home(app: AppFacts, relative: str) -> Path:
    path = Path(relative)
    return path if path.is_absolute() else app.home / path


def make_django_target(mode: Mode, answers: Mapping[str, object], fallback_static_root: Path) -> servers.Target:
    """A Django project's target: its WSGI_APPLICATION (or asgi.py) and static files as the last build's
    collectstatic read them (``answers``); the server's module reads the settings again where it loads the app."""
    static_url = answers.get("static_url")
    static_root = answers.get("static_root")
    if not static_url or str(static_url).startswith(("http://", "https://", "//")):
        static_url = None
    static = dict(
        static_url=str(static_url) if static_url else None,
        static_root=Path(str(static_root)) if static_root else fallback_static_root,
        app_serves_static=bool(answers.get("whitenoise_middleware")),
        django=True,
        static_fallback=fallback_static_root,
    )
    if mode.target is not None:
        return servers.Target("module", module=mode.target.module, callable=mode.target.callable, factory=mode.target.factory, **static)
    module, _, callable_ = str(answers.get("wsgi_application") or "").rpartition(".")
    return servers.Target("django", module=module or None, callable=callable_ or "application", **static)

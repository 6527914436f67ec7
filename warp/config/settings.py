"""Layered settings: command-line flag > WARP_* variable > project file > default.

The precedence is written down once, in ``SPECS``, and every resolved value
remembers where it came from so that ``warp plan`` can say why.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from warp import servers
from warp.errors import UsageError

# Environment variable names, in one place.
WARP_HOME = "WARP_HOME"
WARP_ENV_NAME = "WARP_ENV_NAME"
WARP_SRC_ROOT = "WARP_SRC_ROOT"
WARP_APP_ROOT = "WARP_APP_ROOT"
WARP_ENV_ROOT = "WARP_ENV_ROOT"
WARP_SERVER_TYPE = "WARP_SERVER_TYPE"
WARP_APP_HOME = "WARP_APP_HOME"
WARP_APP = "WARP_APP"
WARP_APP_MODE = "WARP_APP_MODE"
WARP_INTERFACE = "WARP_INTERFACE"
WARP_HTTP_HOST = "WARP_HTTP_HOST"
WARP_HTTP_PORT = "WARP_HTTP_PORT"
WARP_SOCKET = "WARP_SOCKET"
PORT = "PORT"
WARP_PROCESSES = "WARP_PROCESSES"
WARP_THREADS = "WARP_THREADS"
WEB_CONCURRENCY = "WEB_CONCURRENCY"
WARP_INSTALLER = "WARP_INSTALLER"
WARP_PYTHON = "WARP_PYTHON"
WARP_PIP_PACKAGES = "WARP_PIP_PACKAGES"
WARP_PIP_NO_INDEX = "WARP_PIP_NO_INDEX"
WARP_CACHE_DIR = "WARP_CACHE_DIR"
WARP_NO_CACHE = "WARP_NO_CACHE"
WARP_BASE_IMAGE = "WARP_BASE_IMAGE"
WARP_GRACEFUL_TIMEOUT = "WARP_GRACEFUL_TIMEOUT"
WARP_RELOAD = "WARP_RELOAD"
WARP_RELOAD_WARM = "WARP_RELOAD_WARM"
MOD_WSGI_RELOAD_ON_CHANGES = "MOD_WSGI_RELOAD_ON_CHANGES"  # warpdrive's name

SERVER_TYPES = ("auto", *servers.NAMES)
MODES = ("auto", "shell", "python", "django", "wsgi", "asgi", "paste")
INTERFACES = ("auto", "asgi", "wsgi")
INSTALLERS = ("uv", "pip")

DEFAULT_PORT = 8080
DEFAULT_GRACEFUL_TIMEOUT = 30.0


@dataclass(frozen=True)
class Value:
    """A resolved setting and where it came from ("--port", "WARP_HTTP_PORT", ...)."""

    value: Any
    source: str

    @property
    def is_default(self) -> bool:
        return self.source == "default"


def _server_type(raw: str) -> str:
    value = "auto" if raw.strip().lower() == "auto" else servers.normalize_name(raw)
    if value is None:
        raise ValueError(f"unknown server type {raw!r}; choose one of {', '.join(SERVER_TYPES)}")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _port(raw: str) -> int:
    text = str(raw).strip()
    if not (text.isascii() and text.isdecimal()):
        raise ValueError(f"port {raw!r} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 1-65535")
    return port


def _socket_path(raw: str) -> str:
    """An absolute path that fits a Unix socket address (107 bytes on Linux)."""
    text = str(raw).strip()
    if not text.startswith("/"):
        raise ValueError(f"socket {raw!r} is not an absolute path")
    if len(text.encode()) > 100:
        raise ValueError(f"socket path {raw!r} is longer than a Unix socket address allows (100 bytes)")
    return text


def _positive_int(raw: str) -> int:
    text = str(raw).strip()
    if not (text.isascii() and text.isdecimal()) or int(text) < 1:
        raise ValueError(f"{raw!r} is not a positive whole number")
    return int(text)


def _positive_float(raw: str) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a number of seconds") from None
    if not math.isfinite(value):  # float() takes "nan" and "inf"; no server does
        raise ValueError(f"{raw!r} is not a number of seconds")
    if value <= 0:
        raise ValueError(f"{raw!r} must be more than 0 seconds")
    return value


def _text(raw: str) -> str:
    return str(raw).strip()


def parse_flag(raw: str) -> bool:
    """A WARP_* switch: 1, true, yes or on."""
    return str(raw).strip().lower() in ("1", "true", "yes", "on")


def _words(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, (list, tuple)):
        return tuple(str(item) for item in raw)
    return tuple(str(raw).split())


@dataclass(frozen=True)
class Spec:
    """How one setting is found: its flag, variables, project keys and default."""

    name: str
    flag: str | None
    env: tuple[str, ...]
    files: tuple[str, ...]  # names under .warp/
    tool_key: str | None  # key in pyproject [tool.warp]
    default: Any
    parse: Callable[[Any], Any]
    what: str


SPECS: tuple[Spec, ...] = (
    Spec("server", "--server", (WARP_SERVER_TYPE,), ("server_type",), "server", "auto", _server_type, "server type"),
    Spec("home", "--home", (WARP_APP_HOME,), ("home",), "home", "", _text, "application home"),
    Spec("app", "--app", (WARP_APP,), (), "app", None, _text, "application"),
    Spec("mode", "--mode", (WARP_APP_MODE,), ("mode",), "mode", "auto", _choice(MODES), "mode"),
    Spec("interface", "--interface", (WARP_INTERFACE,), (), "interface", "auto", _choice(INTERFACES), "interface"),
    Spec("host", "--host", (WARP_HTTP_HOST,), (), "host", None, _text, "host"),
    Spec("port", "--port", (WARP_HTTP_PORT, PORT), (), "port", DEFAULT_PORT, _port, "port"),
    Spec("socket", "--socket", (WARP_SOCKET,), (), "socket", None, _socket_path, "socket"),
    Spec("processes", "--processes", (WARP_PROCESSES, WEB_CONCURRENCY), (), "processes", None, _positive_int, "processes"),
    Spec("threads", "--threads", (WARP_THREADS,), (), "threads", None, _positive_int, "threads"),
    Spec("installer", "--installer", (WARP_INSTALLER,), (), "installer", "uv", _choice(INSTALLERS), "installer"),
    Spec("python", "--python", (WARP_PYTHON,), (), "python", None, _text, "python"),
    Spec("requirements", None, (WARP_PIP_PACKAGES,), (), "requirements", (), _words, "requirement files"),
    Spec("offline", "--offline", (WARP_PIP_NO_INDEX,), (), "offline", False, parse_flag, "offline install"),
    Spec("base_image", "--base-image", (WARP_BASE_IMAGE,), (), "base-image", None, _text, "base image"),
    Spec("reload", "--reload", (WARP_RELOAD, MOD_WSGI_RELOAD_ON_CHANGES), (), None, False, parse_flag, "reload"),
    # --reload forks new servers from a parked process where it can; off: each starts in a new interpreter.
    Spec("reload_warm", None, (WARP_RELOAD_WARM,), (), "reload-warm", True, parse_flag, "warm reload"),
    Spec(
        "graceful_timeout", "--graceful-timeout", (WARP_GRACEFUL_TIMEOUT,), (), "graceful-timeout",
        DEFAULT_GRACEFUL_TIMEOUT, _positive_float, "graceful timeout",
    ),
)

SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


class Settings(Mapping[str, Value]):
    """Resolved settings, read as ``settings["port"].value``."""

    def __init__(self, values: dict[str, Value]) -> None:
        self._values = values

    def __getitem__(self, name: str) -> Value:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get_value(self, name: str) -> Any:
        return self._values[name].value


def find_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    warp_files: Mapping[str, str],
    tool: Mapping[str, Any],
) -> Settings:
    """Resolve every setting from its layers. Pure: all inputs are passed in.

    ``flags`` holds command-line values (None when not given), ``warp_files``
    the contents of files under ``.warp/``, ``tool`` the ``[tool.warp]`` table.
    """
    values = {}
    for spec in SPECS:
        values[spec.name] = _resolve(spec, flags, environ, warp_files, tool)
    return Settings(values)


def _resolve(spec: Spec, flags, environ, warp_files, tool) -> Value:
    candidates = []
    if spec.flag and flags.get(spec.name) not in (None, ""):
        candidates.append((flags[spec.name], spec.flag))
    for var in spec.env:
        if environ.get(var, "").strip():
            candidates.append((environ[var], var))
            break
    for name in spec.files:
        if warp_files.get(name, "").strip():
            candidates.append((warp_files[name].strip(), f".warp/{name}"))
            break
    if spec.tool_key and spec.tool_key in tool:
        candidates.append((tool[spec.tool_key], f"[tool.warp] {spec.tool_key}"))
    if not candidates:
        return Value(spec.default, "default")
    raw, source = candidates[0]
    if not _is_scalar(raw) and not (spec.parse is _words and isinstance(raw, list) and all(map(_is_scalar, raw))):
        raise UsageError(
            f"{spec.what} from {source} must be a string or a number, not {type(raw).__name__} {raw!r}",
            hint=f"correct {source}" + (f" or pass {spec.flag}" if spec.flag else ""),
        )
    if any("\0" in str(item) for item in (raw if isinstance(raw, list) else [raw])):  # TOML's "\u0000", a .warp file's byte
        raise UsageError(f"{spec.what} from {source} contains a NUL byte", hint=f"correct {source}")
    if source.startswith("[tool.warp]") and not isinstance(raw, (str, list, *_NUMERIC.get(spec.parse, ()))):
        raise UsageError(
            f"{spec.what} from {source} must be a string, not {type(raw).__name__} {raw!r}",
            hint=f'write it in quotes in pyproject.toml: {spec.tool_key} = "..."',
        )
    if isinstance(raw, bool) and spec.parse is not parse_flag:
        raw = str(raw)
    try:
        return Value(spec.parse(raw), source)
    except ValueError as exc:
        raise UsageError(
            f"{spec.what} from {source}: {exc}",
            hint=f"correct {source}" + (f" or pass {spec.flag}" if spec.flag and source != spec.flag else ""),
        ) from None


#: The settings [tool.warp] may give as a TOML number or boolean; every other one is a name, written as a string
#: (``server = 5`` is a mistake, and ``python = 3.10`` would be read as 3.1).
_NUMERIC: dict[Callable[[Any], Any], tuple[type, ...]] = {
    _port: (int,), _positive_int: (int, float), _positive_float: (int, float), parse_flag: (bool, int),
}


def _is_scalar(raw: Any) -> bool:
    """What a setting may be given as in [tool.warp] (TOML also has arrays, tables and dates)."""
    return isinstance(raw, (str, int, float, bool))


def find_warp_home(environ: Mapping[str, str]) -> Path:
    raw = environ.get(WARP_HOME, "").strip()
    if raw:
        return Path(raw).expanduser().absolute()
    return Path("~/.warp").expanduser()


def read_environ() -> dict[str, str]:
    """The process environment, read once at the edge and passed in."""
    return dict(os.environ)

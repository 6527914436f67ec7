"""The server adapters and their registry: adding a server is one module and one line here.

Commands that never start a server (`warp --version`, `list`, `activate`) only need the names, so the
adapter modules are imported the first time the registry itself is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warp.servers.base import Adapter

#: name -> (module, class), in the order `warp --help` lists them.
REGISTRY = {
    "mod_wsgi": ("mod_wsgi", "ModWsgi"),
    "gunicorn": ("gunicorn", "Gunicorn"),
    "uwsgi": ("uwsgi", "Uwsgi"),
    "waitress": ("waitress", "Waitress"),
    "uvicorn": ("uvicorn", "Uvicorn"),
    "granian": ("granian", "Granian"),
    "hypercorn": ("hypercorn", "Hypercorn"),
}
NAMES = tuple(REGISTRY)
#: What `auto` falls back to for a WSGI app: pure Python, installs everywhere.
DEFAULT = "gunicorn"
#: ...and for an ASGI app: the fastest as warp runs them, and the only one with no error at 500 connections
#: (the ASGI measurements in docs/servers.md).
DEFAULT_ASGI = "granian"
DEFAULTS = {"wsgi": DEFAULT, "asgi": DEFAULT_ASGI}
#: `--socket`'s help, beside the registry rather than read from the adapters: importing them all would slow every
#: command (a unit test keeps it true to each adapter's unix_protocol).
SOCKET_HELP = "Listen on this Unix socket instead (HTTP; uwsgi: the uwsgi protocol; not mod_wsgi or waitress)."

#: What this package re-exports from its modules, imported on first use (PEP 562).
_FROM = {
    "HASHED_STATIC_NAME": "base", "IMMUTABLE_CACHE_CONTROL": "base", "Adapter": "base", "Launch": "base",
    "ServerCommand": "base", "Stop": "base", "Target": "base", "is_at_least": "base",
    "WRAPPER_MODULE": "wrapper", "make_wrapper_source": "wrapper", "make_import_marker": "wrapper",
}


def __getattr__(name: str):
    if name in globals():  # the module's own functions ask through here too
        return globals()[name]
    if name == "ADAPTERS":
        value = {key: getattr(importlib.import_module(f"{__name__}.{module}"), cls)() for key, (module, cls) in REGISTRY.items()}
    elif name in _FROM:
        value = getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def find_adapter(name: str | None) -> Adapter | None:
    return __getattr__("ADAPTERS").get(name) if name else None


def normalize_name(raw: str) -> str | None:
    """A server name as users write it (mod-wsgi, ModWSGI...) -> its registered name, None when unknown."""
    value = raw.strip().lower().replace("-", "_")
    for adapter in __getattr__("ADAPTERS").values():
        if value == adapter.name or value in {alias.replace("-", "_") for alias in adapter.aliases}:
            return adapter.name
    return None


__all__ = [
    "ADAPTERS", "DEFAULT", "DEFAULTS", "SOCKET_HELP", "HASHED_STATIC_NAME", "IMMUTABLE_CACHE_CONTROL", "NAMES", "Adapter", "Launch", "ServerCommand",
    "Stop", "Target", "WRAPPER_MODULE", "find_adapter", "is_at_least", "make_import_marker", "make_wrapper_source",
    "normalize_name",
]

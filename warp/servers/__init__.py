"""The server adapters and their registry: adding a server is one module and one line here."""

from __future__ import annotations

from warp.servers.base import HASHED_STATIC_NAME, IMMUTABLE_CACHE_CONTROL, Adapter, Launch, ServerCommand, Stop, Target, is_at_least
from warp.servers.granian import Granian
from warp.servers.gunicorn import Gunicorn
from warp.servers.hypercorn import Hypercorn
from warp.servers.mod_wsgi import ModWsgi
from warp.servers.uvicorn import Uvicorn
from warp.servers.uwsgi import Uwsgi
from warp.servers.waitress import Waitress
from warp.servers.wrapper import WRAPPER_MODULE, make_wrapper_source

#: name -> adapter, in the order `warp --help` lists them.
ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter for adapter in (ModWsgi(), Gunicorn(), Uwsgi(), Waitress(), Uvicorn(), Granian(), Hypercorn())
}
#: What `auto` falls back to for a WSGI app: pure Python, installs everywhere.
DEFAULT = "gunicorn"
#: ...and for an ASGI app: the fastest as warp runs them, and the only one with no error at 500 connections
#: (the measurement in the README).
DEFAULT_ASGI = "granian"
DEFAULTS = {"wsgi": DEFAULT, "asgi": DEFAULT_ASGI}


def find_adapter(name: str | None) -> Adapter | None:
    return ADAPTERS.get(name) if name else None


def normalize_name(raw: str) -> str | None:
    """A server name as users write it (mod-wsgi, ModWSGI...) -> its registered name, None when unknown."""
    value = raw.strip().lower().replace("-", "_")
    for adapter in ADAPTERS.values():
        if value == adapter.name or value in {alias.replace("-", "_") for alias in adapter.aliases}:
            return adapter.name
    return None


__all__ = [
    "ADAPTERS", "DEFAULT", "DEFAULTS", "HASHED_STATIC_NAME", "IMMUTABLE_CACHE_CONTROL", "Adapter", "Launch", "ServerCommand", "Stop", "Target", "WRAPPER_MODULE",
    "find_adapter", "is_at_least", "make_wrapper_source", "normalize_name",
]

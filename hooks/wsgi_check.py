"""Import the application the way the server will, before the server starts, and say whether it is WSGI or ASGI.

A server that fails to import the app prints its own wall of log lines (or,
under mod_wsgi, answers 500 forever); this script tells warp in one JSON line
whether the app imports, and when it does not, shows the app's own traceback
marked as the app's. Usage: wsgi_check.py module NAME CALLABLE | script PATH CALLABLE

The answer: {"ok": true, "interface": "asgi" | "wsgi", "because": "..."}, told
apart as uvicorn and hypercorn do: an ASGI app is a coroutine function, or an
object whose __call__ is one (Django's ASGIHandler, FastAPI, Starlette).

Exit codes: 0 ok, 1 the app raised while importing, 2 no such module or file,
3 no such callable.
"""

import importlib
import importlib.machinery
import inspect
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import fail_from_app, reply  # noqa: E402  (path set just above)


def is_missing(exc, module):
    """True when ``module`` itself (or a parent package) is what cannot be found, not an import inside it."""
    name = getattr(exc, "name", None) or ""
    return name == module or module.startswith(name + ".")


def load_module(module):
    sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if is_missing(exc, module):
            sys.stderr.write(f"module {module!r} cannot be found from {os.getcwd()}\n")
            sys.exit(2)
        fail_from_app(f"the application failed to import: {module}", exc)
    except BaseException as exc:  # noqa: BLE001  (SyntaxError, SystemExit, anything the app raises)
        fail_from_app(f"the application failed to import: {module}", exc)


def load_script(path):
    if not os.path.isfile(path):
        sys.stderr.write(f"file {path} does not exist\n")
        sys.exit(2)
    loader = importlib.machinery.SourceFileLoader("_warp_wsgi_script", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))
    try:
        loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001  (the app's error is shown as the app's)
        fail_from_app(f"the application failed to import: {path}", exc)
    return module


def find_interface(app, name):
    """("asgi" | "wsgi", why) for the callable ``app`` found as ``name``."""
    if getattr(app, "_asgi_single_callable", False) or getattr(app, "_asgi_double_callable", False):
        return "asgi", f"{name} is marked as an ASGI application (asgiref)"
    if inspect.iscoroutinefunction(app):
        return "asgi", f"{name} is an async function"
    if inspect.isfunction(app) or inspect.ismethod(app):
        return "wsgi", f"{name} is a plain (not async) function"
    kind = type(app).__name__
    if inspect.iscoroutinefunction(getattr(app, "__call__", None)):
        return "asgi", f"{name} is a {kind} whose __call__ is async"
    return "wsgi", f"{name} is a {kind} whose __call__ is not async"


def main():
    kind, where, name = sys.argv[1:4]
    module = load_module(where) if kind == "module" else load_script(where)
    target = getattr(module, name, None)
    if target is None:
        sys.stderr.write(f"{where} has no attribute {name!r}\n")
        sys.exit(3)
    if not callable(target):
        sys.stderr.write(f"{where}:{name} is not callable (it is a {type(target).__name__})\n")
        sys.exit(3)
    interface, because = find_interface(target, f"{where}:{name}")
    reply(ok=True, interface=interface, because=because)


if __name__ == "__main__":
    main()

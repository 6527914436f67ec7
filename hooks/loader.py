"""Load the application in the server's own process: what warp's generated module calls.

A `warp start` imports the app once, here, where the server loads it; warp asks the app nothing before. What
warp needs from inside the app is learned now: the callable, whether it is WSGI or ASGI (told apart as uvicorn
and Hypercorn do: an ASGI app is a coroutine function, or an object whose __call__ is one), and for Django the
WSGI application and the static files settings the server runs with.

An app that cannot be loaded ends this process: its own traceback, marked as the app's, and one `error:` line
are shown once per start (the first process to fail writes the marker file warp gave; the others stay quiet),
warp's reloader is told (WARP_READY_FD), and the process exits with the code its server takes as "the app
cannot load, do not try again" (gunicorn's worker boot error, 3).

Standard library only; the framework is imported only for a Django app.
"""

import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys


def _load_common():
    """hooks/_common.py, by its path: the hooks' directory never goes on the app's sys.path."""
    spec = importlib.util.spec_from_file_location("_warp_common", os.path.join(os.path.dirname(os.path.abspath(__file__)), "_common.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_common = _load_common()
tell_warp = _common.tell_warp

APP_HINT = "name the application with --app module:callable (or a .wsgi/.py file) relative to the application home"
FIX_HINT = "fix the error in the application (its traceback is above) and start again"
FIX_HINT_RELOAD = "fix the error in the application (its traceback is above) and save: warp starts it again"


class Missing(Exception):
    """What was named is not there (a module, a file, an attribute): a wrong name, not an error in the app."""


def put_first_on_path(paths):
    """``paths`` at the front of sys.path, in this order: gunicorn, for one, puts its --pythonpath before its
    --chdir, so a project's root would shadow the application home's module of the same name."""
    for path in reversed(paths):
        while path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)


def load(kind, where, name="application", *, interface=None, server="the server", marker=None, exit_code=3, reload=False,
         factory=None):
    """The application named by ``kind`` (module, script, paste or django) and ``where``; on failure, see the module's
    docstring. ``factory``: ``name`` is a factory to call with these literal arguments ("()", "('prod')")."""
    spec = f"{where}:{name}{factory or ''}" if kind in ("module", "script") and name else where
    try:
        app = _load(kind, where, name, factory)
    except Missing as exc:
        fail(str(exc), APP_HINT, marker=marker, exit_code=exit_code)
    except BaseException as exc:  # noqa: BLE001  (SyntaxError, SystemExit, anything the app raises is the app's)
        show_app_traceback(exc)
        fail(f"the application failed to import: {where}", FIX_HINT_RELOAD if reload else FIX_HINT, marker=marker, exit_code=exit_code)
    if interface:
        found, because = find_interface(app, spec)
        if found != interface:
            fail(
                f"the application is {found.upper()} ({because}), and warp started {server} for {interface.upper()}",
                f"start it with --interface {found}, or with a server that speaks {found.upper()}",
                marker=marker, exit_code=exit_code,
            )
    return app


def set_up_paste_logging(ini):
    """The ini's [loggers], [handlers] and [formatters], as pserve and gunicorn --paste set them up."""
    with open(ini, encoding="utf-8") as handle:
        if "[loggers]" not in handle.read():
            return
    import logging.config

    logging.config.fileConfig(ini, {"here": os.path.dirname(ini), "__file__": ini}, disable_existing_loggers=False)


def _load(kind, where, name, factory=None):
    if kind == "django":
        return load_django()
    if kind == "paste":
        from paste.deploy import loadapp

        set_up_paste_logging(where)
        return loadapp("config:" + where)
    module = import_module(where) if kind == "module" else run_script(where)
    if not name:
        return find_app(module, where)
    app = getattr(module, name, None)
    if app is None:
        raise Missing(f"{where} has no attribute {name!r}")
    if factory is not None:
        args, kwargs = parse_call(factory)
        app = app(*args, **kwargs)
    elif is_factory(app):
        app = app()  # create_app named without its parentheses: as uvicorn, a function that takes no request is a factory
    if not callable(app):
        raise Missing(f"{where}:{name}{factory or ''} is not callable (it is a {type(app).__name__})")
    return app


#: What a module named alone (--app flaskr) is searched for, as Flask's own discovery does: apps, then factories.
APP_NAMES = ("application", "app")
FACTORY_NAMES = ("create_app", "make_app")


def find_app(module, where):
    for name in APP_NAMES:
        app = getattr(module, name, None)
        if app is not None and callable(app) and not is_factory(app):
            return app
    for name in FACTORY_NAMES:
        factory = getattr(module, name, None)
        if inspect.isfunction(factory):
            return factory()
    raise Missing(f"{where} defines none of {', '.join(APP_NAMES)}, or a factory {' or '.join(n + '()' for n in FACTORY_NAMES)}")


def is_factory(app):
    """A plain function that takes no request (neither WSGI's two arguments nor ASGI's three) and can be called with none."""
    if not inspect.isfunction(app) or inspect.iscoroutinefunction(app):
        return False
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):
        return False

    def takes(count):
        try:
            signature.bind(*range(count))
        except TypeError:
            return False
        return True

    return takes(0) and not takes(2) and not takes(3)


def parse_call(text):
    """The literal arguments of ``(...)``, as warp checked them before the start."""
    import ast

    call = ast.parse("f" + text, mode="eval").body
    return [ast.literal_eval(a) for a in call.args], {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def import_module(module):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing == module or module.startswith(missing + "."):
            raise Missing(f"module {module!r} cannot be found from {os.getcwd()}") from None
        raise


def run_script(path):
    if not os.path.isfile(path):
        raise Missing(f"file {path} does not exist")
    loader = importlib.machinery.SourceFileLoader("__warp_wsgi__", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))
    loader.exec_module(module)
    return module


def load_django():
    """Django's WSGI application as its settings name it (WSGI_APPLICATION), as runserver finds it."""
    from django.conf import settings

    dotted = getattr(settings, "WSGI_APPLICATION", None)
    if not dotted:
        from django.core.wsgi import get_wsgi_application

        return get_wsgi_application()
    module, _, attribute = dotted.rpartition(".")
    app = getattr(import_module(module), attribute, None)
    if app is None:
        raise Missing(f"WSGI_APPLICATION {dotted!r}: {module} has no attribute {attribute!r}")
    return app


def find_django_static(fallback):
    """(STATIC_URL, the directory collectstatic fills) that warp's server serves, from the settings the app runs
    with; None when the app serves them itself (WhiteNoise's middleware), has no staticfiles app, or an external URL."""
    from django.conf import settings

    if "django.contrib.staticfiles" not in settings.INSTALLED_APPS or _common.has_whitenoise_middleware(settings):
        return None
    url = _common.find_static_url(settings)
    if not url or url.startswith(("http://", "https://", "//")):
        return None
    return url, _common.find_static_root(settings, fallback)


def check_django_static(planned_url, planned_root, fallback):
    """For a server whose static files are mapped on its command line (from the last build): say when the
    settings now differ, and what brings them in line."""
    try:
        now = find_django_static(fallback)
    except Exception:  # noqa: BLE001  (the app loaded: its settings did too; nothing more to say)
        return
    if now != ((planned_url, planned_root) if planned_url else None):
        said = f"{now[0]} -> {now[1]}" if now else "none served by warp"
        sys.stderr.write(
            f"warning: Django's static files settings are now {said}, and the server maps "
            f"{planned_url or 'none'} -> {planned_root or '-'} from the last build; run `warp build` and start again\n"
        )
        sys.stderr.flush()


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
        return "asgi", f"{name} is an instance of {kind}, whose __call__ is async"
    return "wsgi", f"{name} is an instance of {kind}, whose __call__ is not async"


def show_app_traceback(exc):
    _said.append(_common.format_app_traceback(exc))


_said = []


def fail(message, hint, *, marker=None, exit_code=3):
    """Show the app's error once per start, tell warp, and end this process: the first to fail with ``exit_code``,
    on which its server stops; the others quietly (gunicorn, stopping, would take a second boot error as a crash)."""
    first = _is_first(marker)
    if first:
        said = "".join(_said) + f"error: {message}\n       {hint}\n"
        sys.stderr.write(said)
        sys.stderr.flush()
        _keep(marker, said)
    tell_warp(b"0")
    os._exit(exit_code if first else 0)


def _keep(marker, said):
    """What was said, in the marker: under --reload warp shows it on the app's port until the next save."""
    if marker:
        try:
            with open(marker, "w") as handle:
                handle.write(said)
        except OSError:
            pass


def _is_first(marker):
    if not marker:
        return True
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    except OSError:
        return True
    return True

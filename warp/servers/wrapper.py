"""The WSGI and ASGI modules warp generates in the env's .warp/run/ to load an app and add what it serves besides it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from warp.servers.base import HASHED_STATIC_NAME, Launch, Target

WRAPPER_MODULE = "warp_wsgi"
ASGI_WRAPPER_MODULE = "warp_asgi"

#: An access log written by warp's ASGI module, in Granian's format, one write(2) per line (whole lines, even
#: from several workers on one pipe). Granian's own (--access-log) took 40% more CPU per request on the
#: FastAPI hello view, as much with its records sent to a NullHandler; this one no difference that the
#: benchmark machine could measure (docs/servers.md, "Access log").
_ACCESS_LOG = '''

import time as _time

_clock = [None, '']


def _log_request(scope, status, took):
    now = int(_time.time())
    if now != _clock[0]:
        _clock[:] = [now, _time.strftime('%Y-%m-%d %H:%M:%S %z', _time.localtime(now))]
    path = scope.get('path', '')
    if not path.isprintable():  # a percent-encoded newline must not start a line of its own
        path = path.encode('unicode_escape').decode('ascii')
    client = scope.get('client')
    line = '[%s] %s - "%s %s HTTP/%s" %d %.3f\\n' % (
        _clock[1], client[0] if client else '-', scope.get('method', 'GET'), path, scope.get('http_version', '1.1'), status, took * 1000)
    try:
        _os.write(1, line.encode('utf-8', 'backslashreplace'))
    except OSError:
        pass


def _logged_websocket(app, scope, receive, send):
    """A WebSocket's line says how its handshake ended: 101 accepted, 403 closed before (Channels' origin check, say),
    or the status of the response the app sent instead; an app that returns without a word is refused (403)."""
    told = []

    def send_status(message):
        if not told:
            kind = message['type']
            status = {'websocket.accept': 101, 'websocket.close': 403}.get(kind)
            if kind == 'websocket.http.response.start':
                status = message.get('status', 403)
            if status is not None:
                told.append(status)
                _log_request(scope, status, 0.0)
        return send(message)

    async def run():
        try:
            return await app(scope, receive, send_status)
        finally:
            if not told:
                _log_request(scope, 403, 0.0)

    return run()


def _access_logged(app):
    async def logged(scope, receive, send):
        if scope['type'] == 'websocket':
            return await _logged_websocket(app, scope, receive, send)
        if scope['type'] != 'http':
            return await app(scope, receive, send)
        start = _time.perf_counter()
        status = [500]

        def send_status(message):  # the server's own awaitable: no coroutine more per message
            if message['type'] == 'http.response.start':
                status[0] = message['status']
            return send(message)

        try:
            await app(scope, receive, send_status)
        finally:
            _log_request(scope, status[0], _time.perf_counter() - start)

    return logged


application = _access_logged(application)
'''


#: Once the app is imported, what its import made lives as long as the worker: frozen (gc.freeze), the cyclic
#: collector's full passes no longer walk it. A Django site's import leaves some 50,000 objects, which a full
#: pass took 15-25 ms to walk here, the first one in the worker's first requests (or in WhiteNoise's index, which
#: is why the freeze comes before it; the index is frozen in its turn).
_FREEZE = ["", "import gc as _gc", "", "_gc.freeze()"]


@dataclass(frozen=True)
class Loading:
    """How warp's module loads the app in the server's process (hooks/loader.py): which server it is for, the
    interface warp started it with, the file that makes a failure shown once per start, the exit code the server
    takes as "the app cannot load" and, for a Django app, where collectstatic puts files when the settings say nowhere."""

    loader: Path
    server: str
    interface: str = "wsgi"
    marker: Path | None = None
    exit_code: int = 3
    reload: bool = False
    static_fallback: Path | None = None
    #: The server maps the static files on its command line (from the last build): the module only checks them.
    static_in_argv: bool = False
    #: Where the app's modules are, first first: put at the front of sys.path, whatever order the server left.
    python_path: tuple[Path, ...] = ()


def make_loading(launch: Launch, server: str, *, exit_code: int = 3, static_in_argv: bool = False) -> Loading:
    return Loading(
        loader=launch.hooks_dir / "loader.py", server=server, interface=launch.interface, marker=make_import_marker(launch),
        exit_code=exit_code, reload=launch.reload, static_fallback=launch.target.static_fallback, static_in_argv=static_in_argv,
        python_path=launch.python_path,
    )


def make_import_marker(launch: Launch) -> Path:
    """The file the first process that fails to load the app creates, so its error is shown once per start."""
    return launch.run_dir / f"import-failed-{launch.generation}"


def _loader_lines(loading: Loading) -> list[str]:
    """Lines that load warp's loader (hooks/loader.py) by its path: ``_warp``, and its ``_tell_warp``."""
    return [
        "import importlib.util as _util",
        "import os as _os",
        "",
        f"_spec = _util.spec_from_file_location('_warp_loader', {str(loading.loader)!r})",
        "_warp = _util.module_from_spec(_spec)",
        "_spec.loader.exec_module(_warp)",
        "_tell_warp = _warp.tell_warp",
        "",
    ]


def _load_lines(target: Target, loading: Loading) -> list[str]:
    """Lines that import the target as ``application`` through warp's loader, then freeze what the import made."""
    where = {"module": target.module, "script": str(target.script), "paste": str(target.ini), "django": target.module or ""}[target.kind]
    interface = loading.interface if target.kind in ("module", "script") else None
    first = [f"_warp.put_first_on_path({[str(path) for path in loading.python_path]!r})"] if loading.python_path else []
    return first + [
        f"application = _warp.load({target.kind!r}, {where!r}, {target.callable!r}, interface={interface!r}, server={loading.server!r},",
        f"                         marker={str(loading.marker) if loading.marker else None!r}, exit_code={loading.exit_code!r},"
        f" reload={loading.reload!r}{f', factory={target.factory!r}' if target.factory else ''})",
    ] + _FREEZE


def _static_lines(target: Target, loading: Loading, serve: list[str]) -> list[str]:
    """Lines that serve the static files warp's server serves with ``serve`` (given ``_static``, their URL and
    directory), or none when there are none to serve.

    A Django app's come from the settings it runs with now (not from the last build), unless the server maps them
    on its command line: then the module says when the settings no longer match.
    """
    fallback = str(loading.static_fallback) if loading.static_fallback else None
    if loading.static_in_argv:
        if not target.django:
            return []
        root = str(target.static_root) if target.static_root else None
        return [f"_warp.check_django_static({target.static_url!r}, {root!r}, {fallback!r})"]
    if target.django and not target.app_serves_static:
        return [f"_static = _warp.find_django_static({fallback!r})", "if _static:", *(f"    {line}" if line else "" for line in serve)]
    if target.should_serve_static:
        return [f"_static = ({target.static_url!r}, {str(target.static_root)!r})", *serve]
    return []


def _report_lines(common: Path, asgi: bool = False) -> list[str]:
    """Lines that list the installed modules the app loaded for warp's parked process, once loaded and after a first request.

    Only under a warm --reload (WARP_MODULES_FILE set); ``common`` is hooks/_common.py, which does the listing.
    """
    if asgi:
        call = [
            "    async def application(scope, receive, send):",
            "        try:",
            "            return await _loaded(scope, receive, send)",
            "        finally:",
            "            if scope['type'] == 'http' and not _first:  # what the first request imported is wanted too",
        ]
    else:
        call = [
            "    def application(environ, start_response):",
            "        try:",
            "            return _loaded(environ, start_response)",
            "        finally:",
            "            if not _first:  # what the first request imported (Django's URLconf and views) is wanted too",
        ]
    return [
        "",
        "",
        "if _os.environ.get('WARP_MODULES_FILE'):",
        "    import runpy as _runpy",
        "",
        f"    _report_modules = _runpy.run_path({str(common)!r})['report_modules']",
        "    _report_modules()",
        "    _loaded, _first = application, []",
        "",
        *call,
        "                _first.append(True)",
        "                _report_modules()",
    ]


def make_wrapper_source(target: Target, loading: Loading, autorefresh: bool = False, signal_ready: bool = False,
                        report_modules: Path | None = None) -> str:
    """A WSGI module that loads the target through warp's loader (the app's one import of the start), freezes
    what its import made, and adds WhiteNoise for static files (unless the app serves them).

    WhiteNoise caches hashed names for good and serves the .gz/.br copies
    Django's compressed storages write to clients that accept them.

    With ``signal_ready`` it writes one byte to the pipe named by WARP_READY_FD:
    ``1`` once the app is imported, ``0`` when importing it failed, so warp's
    reloader knows at once whether the new code is up (and stops waiting if not).
    With ``report_modules`` (hooks/_common.py) it lists the installed modules it loaded for warp's parked process.
    """
    load = _load_lines(target, loading) + _static_lines(target, loading, [
        "from whitenoise import WhiteNoise",
        "",
        f"application = WhiteNoise(application, autorefresh={autorefresh!r}, immutable_file_test={HASHED_STATIC_NAME!r})",
        "application.add_files(_static[1], prefix=_static[0])",
        "_gc.freeze()",
    ])
    lines = ["# Generated by warp for each start; do not edit.", "", *_loader_lines(loading)]
    if not signal_ready:
        return "\n".join(lines + load) + "\n"
    lines += [
        "try:",
        *[f"    {line}" if line else "" for line in load],
        "except BaseException:",
        "    _tell_warp(b'0')",
        "    raise",
        "_tell_warp(b'1')",
        *(_report_lines(report_modules) if report_modules else []),
    ]
    return "\n".join(lines) + "\n"


def make_asgi_wrapper_source(
    target: Target, loading: Loading, signal_ready: bool = False, lifespan: bool = True, exit_on_failed_startup: bool = False, failure_marker: Path | None = None,
    access_log: bool = False, report_modules: Path | None = None,
) -> str:
    """An ASGI module that loads the target through warp's loader, freezes what its import made, and adds ServeStatic for Django's static
    files (unless the app serves them).

    With ``signal_ready`` it writes ``1`` to WARP_READY_FD once the app can serve
    (its lifespan startup completed, or it has none) and ``0`` when it cannot.
    With ``exit_on_failed_startup`` a failed lifespan startup ends the process with
    code 3, which a gunicorn arbiter takes as "worker failed to boot" and stops on,
    instead of serving an app that did not start; ``failure_marker`` is a file it
    writes first, for a server whose parent then exits 0 (uvicorn's and Hypercorn's
    with several workers). With ``access_log`` it writes a line per request on stdout
    (for Granian, whose own access log costs a third of its throughput). With
    ``report_modules`` (hooks/_common.py) it lists the installed modules it loaded
    for warp's parked process.
    """
    log = _ACCESS_LOG if access_log else ""
    report = _report_lines(report_modules, asgi=True) if report_modules else []
    load = _load_lines(target, loading) + _static_lines(target, loading, [
        "from servestatic import ServeStaticASGI",
        "",
        f"application = ServeStaticASGI(application, root=_static[1], prefix=_static[0], immutable_file_test={HASHED_STATIC_NAME!r})",
        "_gc.freeze()",
    ])
    lines = ["# Generated by warp for each start; do not edit.", "", *_loader_lines(loading), "try:"]
    lines += [f"    {line}" if line else "" for line in load]
    lines += ["except BaseException:", "    _tell_warp(b'0')", "    raise", "_app = application"]
    if not (lifespan and (signal_ready or exit_on_failed_startup or failure_marker)):
        lines.append("_tell_warp(b'1')")
        return "\n".join(lines + report) + "\n" + log
    failed = [f"            open({str(failure_marker)!r}, 'w').close()"] if failure_marker else []
    exit_lines = [
        "        try:",
        "            await send(message)",
        "        finally:",
        "            if message['type'] == 'lifespan.startup.failed' and exit_on_failure:",
        "                import sys",
        "                sys.stderr.write(str(message.get('message') or '') + '\\nwarp: the application sent lifespan.startup.failed; this process stops\\n')",
        "                sys.stderr.flush()",
        "                _os._exit(3)",
    ]
    lines += [
        "",
        "",
        f"exit_on_failure = {exit_on_failed_startup!r}",
        "",
        "",
        "async def application(scope, receive, send):",
        "    if scope['type'] != 'lifespan':",
        "        return await _app(scope, receive, send)",
        "    told = []",
        "",
        "    async def watched_send(message):",
        "        if message['type'] == 'lifespan.startup.complete' and not told:",
        "            told.append(_tell_warp(b'1'))",
        "        elif message['type'] == 'lifespan.startup.failed' and not told:",
        "            told.append(_tell_warp(b'0'))",
        *failed,
        *exit_lines,
        "",
        "    try:",
        "        await _app(scope, receive, watched_send)",
        "    finally:",
        "        if not told:  # no lifespan support: the server goes on without it",
        "            _tell_warp(b'1')",
        *report,
    ]
    return "\n".join(lines) + "\n" + log


def make_asgi_app(
    launch: Launch, server: str, exit_on_failed_startup: bool = False, by_path: bool = False, failure_marker: Path | None = None,
    access_log: bool = False,
) -> tuple[str, dict[Path, str], tuple[Path, ...]]:
    """What an ASGI server loads: (module:callable, files to write, import path).

    Always warp's generated module, which loads the app through warp's loader (and adds ServeStatic, the ready
    pipe, an exit on a failed startup or the access log where needed), named by its file's path with
    ``by_path`` (for servers that import a file from its directory and take no import path).
    """
    report = launch.hooks_dir / "_common.py" if launch.reload else None
    loading = make_loading(launch, server)
    source = make_asgi_wrapper_source(launch.target, loading, launch.reload, launch.lifespan, exit_on_failed_startup, failure_marker, access_log, report)
    module = launch.run_dir / f"{ASGI_WRAPPER_MODULE}.py"
    spec = f"{module}:application" if by_path else f"{ASGI_WRAPPER_MODULE}:application"
    return spec, {launch.run_dir / f"{ASGI_WRAPPER_MODULE}.py": source}, (launch.run_dir, *launch.python_path)


def make_failure_marker(launch: Launch) -> Path:
    """Where warp's ASGI module says that the app's startup failed (one per --reload child)."""
    return launch.run_dir / f"startup-failed-{launch.generation}"

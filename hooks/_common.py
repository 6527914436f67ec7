"""Shared by the hook scripts, in the app's interpreter: report a result or fail readably, tell warp's reloader
whether the app loaded (the ready pipe), Django's static files settings (where collected files go), the modules
the app imported, and the parent-death signal. Standard library only."""

import json
import os
import signal
import sys
import sysconfig
import traceback


def reply(**data):
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def _not_the_apps():
    """warp's hooks, the standard library and the installed packages (the app's dependencies: their message is enough)."""
    paths = sysconfig.get_paths()
    return (os.path.dirname(os.path.abspath(__file__)) + os.sep, *(paths[key] + os.sep for key in ("stdlib", "purelib", "platlib")))


def format_app_traceback(exc):
    """An exception raised by the application's own code, marked as the app's: only the app's frames (the last six)."""
    outside = _not_the_apps()
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(outside) and not f.filename.startswith("<frozen")]
    lines = ["--- traceback from the application (not from warp) ---\n", *traceback.format_list(frames[-6:])]
    lines += traceback.format_exception_only(type(exc), exc)
    lines.append("--- end of the application's traceback ---\n")
    return "".join(lines)


def fail_from_app(what, exc):
    """Show an exception raised by the application's own code, marked as the app's, and exit 1."""
    sys.stderr.write(f"{what}\n" + format_app_traceback(exc))
    sys.exit(1)


def tell_warp(byte):
    """Tell warp's reloader whether the app loaded (1) or not (0), on the pipe WARP_READY_FD names.

    A worker spawned by its server (uvicorn's and Hypercorn's, by multiprocessing) does not inherit the pipe: it
    reaches it through its parent, which did.
    """
    fd = os.environ.get("WARP_READY_FD")
    if not fd:
        return
    parents = f"/proc/{os.getppid()}/fd/{fd}"
    try:
        if os.readlink(f"/proc/self/fd/{fd}") == os.readlink(parents):
            os.write(int(fd), byte)
            return
    except OSError:
        pass
    try:
        pipe = os.open(parents, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        try:
            os.write(int(fd), byte)  # no /proc: the inherited descriptor, if any
        except OSError:
            pass
        return
    try:
        os.write(pipe, byte)
    except OSError:
        pass
    finally:
        os.close(pipe)


def find_static_url(settings):
    """Django's STATIC_URL as a path warp's server serves (a relative one made absolute); None when unset."""
    url = settings.STATIC_URL or ""
    if url and not url.startswith(("/", "http://", "https://")):
        url = "/" + url
    return url or None


def find_static_root(settings, fallback):
    """Where Django's collected static files are: the project's STATIC_ROOT, else ``fallback`` (the env's own
    directory, so that no one edits settings for warp). The one rule: collectstatic and the server's module use it."""
    return str(settings.STATIC_ROOT) if settings.STATIC_ROOT else fallback


def has_whitenoise_middleware(settings):
    """The app serves its static files itself: WhiteNoise's middleware is in MIDDLEWARE."""
    return "whitenoise.middleware.WhiteNoiseMiddleware" in (getattr(settings, "MIDDLEWARE", None) or ())


def report_modules():
    """Under `warp start --reload`, list the installed modules this process loaded for warp's parked process.

    Written to WARP_MODULES_FILE (JSON, in import order): those from the standard library and
    site-packages, never the project's (under WARP_SRC_ROOT or WARP_APP_ROOT).
    """
    target = os.environ.get("WARP_MODULES_FILE")
    if not target:
        return
    paths = sysconfig.get_paths()
    roots = tuple({os.path.realpath(paths[k]) + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)})
    project = tuple(os.path.realpath(os.environ[k]) + os.sep for k in ("WARP_SRC_ROOT", "WARP_APP_ROOT") if os.environ.get(k))
    names = []
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None)
        if where:
            where = os.path.realpath(where)
            if where.startswith(roots) and not where.startswith(project):
                names.append(name)
    write_json(target, names)


def write_json(path, value):
    """``value`` as JSON at ``path``, whole or not at all (readers never see half a file); a failure is only a lost shortcut."""
    temporary = f"{path}.{os.getpid()}"
    try:
        with open(temporary, "w") as handle:
            json.dump(value, handle)
        os.replace(temporary, path)
    except OSError:
        pass


def exit_with_parent(parent, signum=signal.SIGTERM):
    """Get ``signum`` when ``parent``, the process that started this one, dies, even by SIGKILL (Linux's
    parent-death signal), so that no server process outlives the one that stops it, holding the port.

    A parent killed before this call is already gone: then this process ends at once.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signum)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


#: The pid of the process whose workers, spawned by multiprocessing, import the server's script again.
WORKERS_PARENT = "WARP_WORKERS_PARENT"


def exit_workers_with_parent(name, signum):
    """Every worker this process forks, or starts with multiprocessing's spawn, gets ``signum`` when it dies.

    Called at the top of the script that runs the server, with the script's ``__name__``. A spawned worker imports
    that script again as ``__mp_main__``, and then this call is the worker's: its parent is the one WORKERS_PARENT
    names (not its parent now, should that have died while the worker started). A forked one is set as it is forked.
    """
    if name == "__mp_main__":
        exit_with_parent(int(os.environ.get(WORKERS_PARENT) or os.getppid()), signum)
        os.environ[WORKERS_PARENT] = str(os.getpid())  # for what it spawns in its turn
        return
    server, forking = os.getpid(), []
    os.environ[WORKERS_PARENT] = str(server)

    def before():
        forking[:] = [os.getpid()]

    def after_in_child():
        if forking == [server]:  # forked by the server itself, not by one of its workers
            exit_with_parent(server, signum)
        os.environ[WORKERS_PARENT] = str(os.getpid())

    os.register_at_fork(before=before, after_in_child=after_in_child)

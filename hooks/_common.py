"""Shared by the hook scripts: report a result or fail readably. Standard library only."""

import json
import os
import sys
import sysconfig
import traceback


def reply(**data):
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


_NOT_THE_APP = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,  # warp's hooks
    sysconfig.get_paths()["stdlib"] + os.sep,
    sysconfig.get_paths()["purelib"] + os.sep,  # the app's dependencies (Django): their message is enough
    sysconfig.get_paths()["platlib"] + os.sep,
)


def _is_apps(filename):
    """A frame in the application's own files (not warp's hooks, the standard library or installed packages)."""
    return not os.path.abspath(filename).startswith(_NOT_THE_APP) and not filename.startswith("<frozen")


def fail_from_app(what, exc):
    """Show an exception raised by the application's own code, marked as the app's."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_apps(f.filename)]
    sys.stderr.write(f"{what}\n")
    sys.stderr.write("--- traceback from the application (not from warp) ---\n")
    for line in traceback.format_list(frames[-6:]):
        sys.stderr.write(line)
    for line in traceback.format_exception_only(type(exc), exc):
        sys.stderr.write(line)
    sys.stderr.write("--- end of the application's traceback ---\n")
    sys.exit(1)


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

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

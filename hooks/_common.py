"""Shared by the hook scripts: report a result or fail readably. Standard library only."""

import json
import os
import sys
import traceback


def reply(**data):
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def fail_from_app(what, exc):
    """Show an exception raised by the application's own code, marked as the app's."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.sep + "warp" + os.sep + "hooks" not in f.filename]
    sys.stderr.write(f"{what}\n")
    sys.stderr.write("--- traceback from the application (not from warp) ---\n")
    for line in traceback.format_list(frames[-6:]):
        sys.stderr.write(line)
    for line in traceback.format_exception_only(type(exc), exc):
        sys.stderr.write(line)
    sys.stderr.write("--- end of the application's traceback ---\n")
    sys.exit(1)

"""Run a server's own command line, its workers exiting with it: serve.py MODULE:FUNCTION ARGUMENTS...

MODULE:FUNCTION is the entry point of the server's console script (granian.cli:entrypoint). The server's
workers are multiprocessing's and would outlive a server killed with SIGKILL (an OOM killer, `systemctl kill
-s KILL`), serving and holding the port; run from here, each gets the parent-death signal when it starts.
A spawned worker imports this script again, which is why it is a script of its own and not the console script.
"""

import os
import signal
import sys
from importlib import import_module

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import exit_workers_with_parent  # noqa: E402  (path set just above)

# SIGKILL: a worker that outlived its server has nothing left to bound its stop (Granian's kill timeout is the
# server's), and a Granian worker still starting takes SIGTERM for its server's.
exit_workers_with_parent(__name__, signal.SIGKILL)

if __name__ == "__main__":
    module, _, function = sys.argv.pop(1).partition(":")
    sys.argv[0] = module.partition(".")[0]  # the name it shows in its usage and errors
    sys.exit(getattr(import_module(module), function)())

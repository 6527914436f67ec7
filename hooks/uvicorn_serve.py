"""Run uvicorn's own command line, with changes to how it stops and reloads.

On SIGTERM uvicorn stops accepting and at once closes every connection with no
request in progress, including those it accepted a moment before whose request
has not arrived yet: their clients get a reset or an empty answer. Under
`warp start --reload`, where clients keep connecting to warp's socket while the
old server stops, and in any stop under load, those are failed requests
(13 in 30,000 over 12 stops of `uvicorn --fd`, measured; none with this change).
Here the server stops accepting, gives such connections STOP_GRACE seconds to
send their request (they are then in progress, and answered), then stops as
uvicorn does. And its workers exit with it: killed with SIGKILL (an OOM killer,
`systemctl kill -s KILL`), uvicorn would leave them serving and holding the port.
SIGHUP reloads the app: uvicorn's supervisor replaces its workers; a uvicorn of
one process, which SIGHUP would end, stops gracefully and starts again.
Usage: uvicorn_serve.py UVICORN-ARGUMENTS...
"""

import asyncio
import multiprocessing
import os
import signal
import sys

import uvicorn.server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import exit_workers_with_parent  # noqa: E402  (path set just above)

# Its workers are spawned: they run this line too. SIGTERM: uvicorn's own stop, within its graceful timeout.
exit_workers_with_parent(__name__, signal.SIGTERM)

#: Enough for a client that has connected to send its request; a stop takes this much longer.
STOP_GRACE = 0.1


#: Set when SIGHUP stopped the one process of a uvicorn with no supervisor of its own: it then starts again.
RESTART = []


class Server(uvicorn.server.Server):
    def run(self, sockets=None):
        # One process and no supervisor of uvicorn's (whose SIGHUP reloads its workers): SIGHUP stops it gracefully,
        # then it starts again in the same process (exec), importing the app anew.
        if sockets is None and multiprocessing.parent_process() is None and not self.config.should_reload:
            signal.signal(signal.SIGHUP, self.restart)
        return super().run(sockets)

    def restart(self, signum, frame):
        RESTART.append(signum)
        self.should_exit = True

    async def shutdown(self, sockets=None):
        for server in self.servers:
            server.close()
        await asyncio.sleep(STOP_GRACE)
        await super().shutdown(sockets)


# uvicorn's command line and its worker processes (spawned: they import this module again) make their server here.
# (The package's attribute `uvicorn.main` is the command, not the module: hence sys.modules.)
sys.modules["uvicorn.main"].Server = sys.modules["uvicorn.supervisors.multiprocess"].Server = Server

if __name__ == "__main__":
    argv = [sys.executable, *sys.argv]
    sys.argv[0] = "uvicorn"
    try:
        sys.modules["uvicorn.main"].main()  # a click command: it exits
    except SystemExit as exc:
        if RESTART and not exc.code:
            sys.stdout.flush()
            sys.stderr.flush()
            os.execv(argv[0], argv)
        raise

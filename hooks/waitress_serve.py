"""Serve a WSGI app with waitress, stopping gracefully on SIGTERM and SIGINT.

waitress-serve dies at once on SIGTERM, and its SIGINT drops connections it
has accepted but not yet read. On either signal this launcher closes its
listening socket (new connections are refused), answers every request on the
connections already accepted, each response then closing its connection, a
keep-alive one too (up to --graceful-timeout), then exits. It serves the
--script warp generates (which loads the app and adds WhiteNoise). Unknown
--name=value options are waitress adjustments.

Waitress is one process, so its threads share one GIL. With --processes N the
launcher forks N processes that each load the app (as gunicorn's arbiter
does): a process that dies is replaced, and SIGTERM/SIGINT stop them all
gracefully. Each process listens on a socket of its own bound with
SO_REUSEPORT, so the kernel spreads new connections evenly between them; on
one shared socket, a process that wakes first takes most of a client's
keep-alive connections and the others idle. An inherited --fd is shared.
"""

import argparse
import logging
import os
import runpy
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import exit_with_parent, fail_from_app, report_modules, tell_warp  # noqa: E402  (path set just above)


def load_app(args):
    return runpy.run_path(args.script, run_name="__warp_wsgi__")[args.callable]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen")
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--script", required=True, help="warp's module, which loads the app")
    parser.add_argument("--callable", default="application")
    parser.add_argument("--graceful-timeout", type=float, default=30.0)
    args, rest = parser.parse_known_args()
    adjustments = {}
    for item in rest:
        key, sep, value = item.lstrip("-").partition("=")
        if not sep:
            parser.error(f"waitress option {item!r} must be written --name=value")
        adjustments[key.replace("-", "_")] = value

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    if args.fd is not None:
        adjustments["sockets"] = [socket.socket(fileno=args.fd)]
    # One process on warp's socket (--reload, where warp restarts the server on a change) is the launcher itself.
    if args.processes > 1 or args.fd is None:
        sys.exit(Arbiter(args, adjustments).run())
    serve_app(args, adjustments)


def serve_app(args, adjustments, loaded=None):
    """Load the app (its errors are shown as the app's) and serve until SIGTERM or SIGINT.

    ``loaded`` runs once the app is ready to serve, just before serving; it may add the listening socket.
    """
    try:
        app = load_app(args)
    except Exception as exc:  # noqa: BLE001  (the app's import error is the app's)
        tell_warp(b"0")
        fail_from_app("the application failed to load", exc)
    tell_warp(b"1")
    if loaded is not None:
        loaded()
    if os.environ.get("WARP_MODULES_FILE"):
        app = reporting_modules(app)
    serve(app, args.threads, args.graceful_timeout, adjustments)


def reporting_modules(app):
    """Under a warm --reload: list the installed modules loaded for warp's parked process, now and after a first request."""
    report_modules()
    first = []

    def application(environ, start_response):
        try:
            return app(environ, start_response)
        finally:
            if not first:  # what the first request imported (Django's URLconf and views) is wanted too
                first.append(True)
                report_modules()

    return application


def bind(listen, backlog):
    """This process's own listening socket for HOST:PORT (IPv6 hosts in brackets), one of a SO_REUSEPORT group."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, int(port)), family=family, backlog=backlog, reuse_port=True)
    except OSError as exc:
        sys.stderr.write(f"error: cannot listen on {listen}: {exc.strerror}\n")
        sys.exit(APP_FAILED)  # the arbiter stops rather than retrying a port it cannot have


#: The signals that stop the launcher and each of its processes gracefully.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: The signal that reloads the app: new processes import it again and serve, then the old ones stop gracefully.
RELOAD_SIGNAL = signal.SIGHUP

#: Exit code of a process whose app failed to load (fail_from_app): replacing it would fail the same way.
APP_FAILED = 1


class Arbiter:
    """N waitress processes on one socket; replaces those that die, stops them all on SIGTERM/SIGINT, and replaces
    them all on SIGHUP with processes that import the app again."""

    def __init__(self, args, adjustments):
        self.args, self.adjustments = args, adjustments
        self.children = {}  # pid -> slot
        self.retiring = set()  # replaced by a reload: stopping, and not to be replaced in their turn
        self.stopping = None
        self.loaded = set()  # the processes that said they loaded the app
        self.loaded_read, self.loaded_write = os.pipe()
        os.set_blocking(self.loaded_read, False)

    def run(self):
        for sig in STOP_SIGNALS:
            signal.signal(sig, self.stop)
        # Taken one at a time in the loop below, not by a handler: a reload forks.
        signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGCHLD, RELOAD_SIGNAL))
        # The first process loads the app alone: if the app is broken, its error is shown once.
        first = self.spawn(0)
        if first is not None and not self.wait_loaded(first):
            return APP_FAILED
        for slot in range(1, self.args.processes):
            self.spawn(slot)  # forks nothing once a stop has begun
        code = 0
        while self.children:
            if signal.sigwaitinfo((signal.SIGCHLD, RELOAD_SIGNAL)).si_signo == RELOAD_SIGNAL:
                self.reload()
            code = self.reap(code)
        return code if code == APP_FAILED else 0

    def reap(self, code):
        """Reap the processes that ended; replace each that died while serving. Returns the last exit code."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                break
            if not pid:
                break
            slot = self.children.pop(pid, None)
            self.loaded.discard(pid)
            if slot is None or self.stopping is not None or pid in self.retiring:
                self.retiring.discard(pid)
                continue
            code = os.waitstatus_to_exitcode(status)
            if code == APP_FAILED:
                sys.stderr.write(f"waitress process {pid} could not load the app; stopping\n")
                self.stop(signal.SIGTERM, None)
                continue
            sys.stderr.write(f"waitress process {pid} exited with {code}; starting another\n")
            time.sleep(0.1)
            self.spawn(slot)
        return code

    def reload(self):
        """A new process for each slot, one after the other once each has imported the app and serves; then the old
        ones stop gracefully. If the app no longer loads, those already serving go on."""
        old = [pid for pid in self.children if pid not in self.retiring]
        started = []
        for slot in sorted({self.children[pid] for pid in old}):
            pid = self.spawn(slot)
            if pid is None:  # a stop has begun, which stops them all
                return
            if not self.wait_loaded(pid):
                sys.stderr.write("waitress: the app could not be loaded again; the processes serving it go on\n")
                old = started
                break
            started.append(pid)
        else:
            sys.stderr.write(f"waitress: {len(started)} new processes serve the app loaded again; the old ones stop\n")
        self.retiring.update(old)
        for pid in old:
            os.kill(pid, signal.SIGTERM)

    def wait_loaded(self, pid):
        """True once process ``pid`` has loaded the app, or a stop came first; False if it died first (its error is shown)."""
        while self.stopping is None:
            try:
                self.loaded.update(int(word) for word in os.read(self.loaded_read, 4096).split())
            except BlockingIOError:
                pass
            if pid in self.loaded:
                return True
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.children.pop(pid, None)
                return False
            time.sleep(0.01)
        return True  # run() forks no more and reaps this one

    def spawn(self, slot):
        """Fork the process for ``slot``; None once a stop has begun, since nothing would ever stop that process.

        The stop signals are blocked across the fork: stop() runs only once the new process is in self.children
        (so it is signalled too), and the new process takes them only once their default action is back.
        """
        sys.stdout.flush()
        sys.stderr.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            if self.stopping is not None:
                return None
            arbiter = os.getpid()
            pid = os.fork()
            if pid == 0:
                self.serve_child(arbiter)
            self.children[pid] = slot
            return pid
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def serve_child(self, arbiter: int):
        """In a forked process: serve until stopped, then exit; never return into the arbiter's loop."""
        try:
            exit_with_parent(arbiter)  # no orphan keeps the port if the arbiter is killed
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            # A stop sent during the fork ends this process here; the reload signal is the arbiter's.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, (*STOP_SIGNALS, signal.SIGCHLD, RELOAD_SIGNAL))
            adjustments = dict(self.adjustments)

            def loaded():
                # Listening only now: a process still importing the app would be handed connections it cannot
                # answer yet, and a stop during the import would reset them.
                if "sockets" not in adjustments:
                    adjustments["sockets"] = [bind(self.args.listen, int(adjustments.pop("backlog", 1024)))]
                os.write(self.loaded_write, f"{os.getpid()}\n".encode())

            serve_app(self.args, adjustments, loaded=loaded)
            os._exit(0)
        except SystemExit as exc:
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        except BaseException:  # noqa: BLE001  (a child must never return into the arbiter's loop)
            import traceback

            traceback.print_exc()
            os._exit(1)

    def stop(self, signum, frame):
        """Pass the signal on once: each process stops accepting and finishes what it has."""
        if self.stopping is None:
            self.stopping = signum
            for pid in list(self.children):
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass


#: After a stop, a keep-alive connection with no request in progress is closed once idle this long: a client that
#: sends its next request within it is answered (with Connection: close); a later one finds the connection closed.
IDLE_GRACE = 1.0


def serve(app, threads, graceful_timeout, adjustments):
    from waitress import create_server, wasyncore
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer

    stopping = []
    for sig in STOP_SIGNALS:  # from here on a stop is graceful, even one that comes while the server is made
        signal.signal(sig, lambda signum, frame: stopping.append(time.monotonic()))

    class Task(HTTPChannel.task_class):
        def build_response_header(self):
            if stopping:  # each response after a stop ends its connection, a keep-alive one too
                self.request.headers["CONNECTION"] = "close"
            return super().build_response_header()

    class Channel(HTTPChannel):
        task_class = Task

    server = create_server(app, threads=threads, **adjustments)
    socket_map = server._map if isinstance(server, BaseWSGIServer) else server.map
    listeners = [item for item in socket_map.values() if isinstance(item, BaseWSGIServer)]
    for listener in listeners:
        listener.channel_class = Channel
    server.print_listen("Serving on http://{}:{}")
    while not stopping:
        wasyncore.loop(timeout=0.2, map=socket_map, count=1)
    for listener in listeners:
        # New connections are refused (those still in its queue are reset, as on every server); with an
        # inherited socket they wait for the next server, which warp's copy keeps listening. The server's own
        # close() would also close the pipe that wakes this loop when a thread has answered.
        wasyncore.dispatcher.close(listener)
    deadline = stopping[0] + graceful_timeout
    while time.monotonic() < deadline:
        channels = [item for item in list(socket_map.values()) if isinstance(item, HTTPChannel)]
        for channel in channels:
            idle = not channel.requests and not channel.total_outbufs_len
            if idle and time.time() - channel.last_activity > IDLE_GRACE:  # waitress's clock for last_activity
                channel.handle_close()
        if not channels:
            break
        wasyncore.loop(timeout=0.05, map=socket_map, count=1)
    server.task_dispatcher.shutdown(timeout=max(0.0, deadline - time.monotonic()))


if __name__ == "__main__":
    main()

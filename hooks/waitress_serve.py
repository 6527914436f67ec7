"""Serve a WSGI app with waitress, stopping gracefully on SIGTERM and SIGINT.

waitress-serve dies at once on SIGTERM, and its SIGINT drops connections it
has accepted but not yet read. This launcher stops accepting on either
signal, answers every connection already accepted (up to --graceful-timeout),
then exits. It also adds WhiteNoise for static files and loads scripts and
PasteDeploy files. Unknown --name=value options are waitress adjustments.
"""

import argparse
import logging
import os
import runpy
import signal
import sys
import time
from importlib import import_module

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import fail_from_app  # noqa: E402  (path set just above)


def load_app(args):
    if args.paste:
        ini = os.path.abspath(args.paste)
        from paste.deploy import loadapp

        if "[loggers]" in open(ini, encoding="utf-8").read():
            import logging.config

            logging.config.fileConfig(ini, {"here": os.path.dirname(ini), "__file__": ini}, disable_existing_loggers=False)
        return loadapp("config:" + ini)
    if args.script:
        return runpy.run_path(args.script, run_name="__warp_wsgi__")[args.callable]
    module, _, name = args.app.partition(":")
    return getattr(import_module(module), name or "application")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen")
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--app")
    parser.add_argument("--script")
    parser.add_argument("--callable", default="application")
    parser.add_argument("--paste")
    parser.add_argument("--static-url")
    parser.add_argument("--static-root")
    parser.add_argument("--autorefresh", action="store_true")
    parser.add_argument("--graceful-timeout", type=float, default=30.0)
    args, rest = parser.parse_known_args()
    adjustments = {}
    for item in rest:
        key, sep, value = item.lstrip("-").partition("=")
        if not sep:
            parser.error(f"waitress option {item!r} must be written --name=value")
        adjustments[key.replace("-", "_")] = value

    try:
        app = load_app(args)
    except Exception as exc:  # noqa: BLE001  (the app's import error is the app's)
        fail_from_app("the application failed to load", exc)
    if os.environ.get("WARP_READY_FD"):
        try:
            os.write(int(os.environ["WARP_READY_FD"]), b"1")
        except OSError:
            pass
    if args.static_url and args.static_root:
        from whitenoise import WhiteNoise

        app = WhiteNoise(app, autorefresh=args.autorefresh)
        app.add_files(args.static_root, prefix=args.static_url)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    if args.fd is not None:
        import socket

        adjustments["sockets"] = [socket.socket(fileno=args.fd)]
    else:
        adjustments["listen"] = args.listen
    serve(app, args.threads, args.graceful_timeout, adjustments)


def serve(app, threads, graceful_timeout, adjustments):
    from waitress import create_server, wasyncore
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer

    server = create_server(app, threads=threads, **adjustments)
    socket_map = server._map if isinstance(server, BaseWSGIServer) else server.map
    listeners = [item for item in socket_map.values() if isinstance(item, BaseWSGIServer)]
    server.print_listen("Serving on http://{}:{}")
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopping.append(time.monotonic()))
    while not stopping:
        wasyncore.loop(timeout=0.2, map=socket_map, count=1)
    for listener in listeners:
        listener.accepting = False  # the connections already accepted are still answered
    deadline = stopping[0] + graceful_timeout
    while time.monotonic() < deadline:
        channels = [item for item in list(socket_map.values()) if isinstance(item, HTTPChannel)]
        for channel in channels:
            idle = not channel.requests and not channel.total_outbufs_len
            if idle and time.monotonic() - channel.last_activity > 1.0:
                channel.handle_close()  # a keep-alive connection with nothing to do
        if not channels:
            break
        wasyncore.loop(timeout=0.05, map=socket_map, count=1)
    server.task_dispatcher.shutdown(timeout=max(0.0, deadline - time.monotonic()))


if __name__ == "__main__":
    main()

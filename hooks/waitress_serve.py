"""Serve a WSGI app with waitress, stopping gracefully on SIGTERM.

waitress-serve dies at once on SIGTERM; SIGINT is its graceful stop. This
launcher makes SIGTERM behave like SIGINT, adds WhiteNoise for static files,
and loads scripts and PasteDeploy files. Unknown --name=value options are
passed to waitress.serve() as adjustments.
"""

import argparse
import logging
import os
import runpy
import signal
import sys
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
    parser.add_argument("--listen", required=True)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--app")
    parser.add_argument("--script")
    parser.add_argument("--callable", default="application")
    parser.add_argument("--paste")
    parser.add_argument("--static-url")
    parser.add_argument("--static-root")
    parser.add_argument("--autorefresh", action="store_true")
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
    if args.static_url and args.static_root:
        from whitenoise import WhiteNoise

        app = WhiteNoise(app, autorefresh=args.autorefresh)
        app.add_files(args.static_root, prefix=args.static_url)

    import waitress

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    waitress.serve(app, listen=args.listen, threads=args.threads, **adjustments)


if __name__ == "__main__":
    main()

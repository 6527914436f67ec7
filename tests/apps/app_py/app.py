"""A plain app that listens on $PORT itself."""

import os
from wsgiref.simple_server import make_server


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from app.py"]


if __name__ == "__main__":
    host = os.environ.get("WARP_HTTP_HOST", "127.0.0.1")
    make_server(host, int(os.environ["PORT"]), application).serve_forever()

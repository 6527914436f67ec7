#!/bin/sh
# Serve this directory with Python's http.server on $PORT.
exec python -m http.server --bind "${WARP_HTTP_HOST:-127.0.0.1}" "$PORT"

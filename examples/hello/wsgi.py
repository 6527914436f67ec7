"""The demo app: warp finds `application` in wsgi.py and serves it with gunicorn."""

import os

from flask import Flask

application = Flask(__name__)


@application.route("/")
def index():
    return (
        "<h1>Hello from warp</h1>"
        f"<p>Served by process {os.getpid()} in env {os.environ.get('WARP_ENV_NAME')}.</p>"
    )

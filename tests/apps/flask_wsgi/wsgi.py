import gc
import os
import time

from flask import Flask

application = Flask(__name__)


@application.route("/")
def index():
    return f"hello from flask pid {os.getpid()}"


@application.route("/frozen")
def frozen():
    return str(gc.get_freeze_count())


@application.route("/env/<name>")
def env(name):
    return os.environ.get(name, "(unset)")


@application.route("/slow")
def slow():
    time.sleep(float(os.environ.get("SLOW_SECONDS", "3")))
    return "slow done"

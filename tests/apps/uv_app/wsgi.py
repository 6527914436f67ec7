from importlib.metadata import version

import flask

application = flask.Flask(__name__)


@application.route("/")
def index():
    return f"uv app on flask {version('flask')}"

from importlib.metadata import version

import flask

application = flask.Flask(__name__)


@application.route("/")
def index():
    return f"poetry flask app on flask {version('flask')}"

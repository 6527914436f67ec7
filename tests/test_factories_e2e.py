"""Application factories, as Flask's tutorial (flaskr) and its deploying docs write them, under real servers."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from conftest import SHARED, build_app

pytestmark = pytest.mark.e2e

#: Flask's tutorial layout: a package whose __init__.py holds create_app(test_config=None).
FLASKR = '''
import os

from flask import Flask


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(SECRET_KEY="dev", GREETING="hello from the factory")
    if test_config is not None:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    @app.route("/hello")
    def hello():
        return app.config["GREETING"]

    return app
'''


def flaskr_app(server: str):
    app = build_app("flask_wsgi", server, copy_as=f"flaskr-{server}")
    (app.src / "wsgi.py").unlink(missing_ok=True)  # the tutorial has no wsgi.py
    package = app.src / "flaskr"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(textwrap.dedent(FLASKR))
    return app


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
@pytest.mark.parametrize("spec", ["flaskr:create_app()", "flaskr:create_app", "flaskr"], ids=["called", "named", "module"])
def test_flasks_tutorial_factory_is_served_as_its_deploying_docs_write_it(server, spec, run_warp):
    app = flaskr_app(server)
    running = run_warp(app, "--app", spec)
    running.wait_ready("/hello")
    assert running.get("/hello") == (200, "hello from the factory"), running.output()


def test_a_factory_gets_its_literal_arguments(run_warp):
    app = flaskr_app("gunicorn")
    running = run_warp(app, "--app", "flaskr:create_app({'GREETING': 'configured'})")
    running.wait_ready("/hello")
    assert running.get("/hello") == (200, "configured"), running.output()

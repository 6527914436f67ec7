"""Entry points as the frameworks' own docs write them: Flask's tutorial factory (flaskr), Litestar's hello world."""

from __future__ import annotations

import re
import textwrap

import pytest

from conftest import build_app

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


LITESTAR_HELLO = '''
from litestar import Litestar, get


@get("/")
async def hello_world() -> str:
    return "Hello, world!"


app = Litestar([hello_world])
'''


def test_litestars_hello_world_app_py_is_served_not_run(run_warp):
    """app.py that only defines the app (no `if __name__ == "__main__"`): a server runs it, as Litestar's docs do with uvicorn."""
    app = build_app("fastapi_app", "granian", copy_as="litestar-hello")
    (app.src / "main.py").unlink(missing_ok=True)
    (app.src / "app.py").write_text(textwrap.dedent(LITESTAR_HELLO))
    (app.src / "requirements.txt").write_text("litestar\n")
    from conftest import warp

    warp("build", cwd=app.src, home=app.home)
    plan = warp("plan", cwd=app.src, home=app.home).stdout
    assert "app.py defines app and runs no server of its own" in plan and "interface" in plan
    running = run_warp(app)
    running.wait_ready("/")
    assert running.get("/") == (200, "Hello, world!"), running.output()


def test_a_wsgi_py_that_defines_app_is_served(run_warp):
    app = build_app("flask_wsgi", "gunicorn", copy_as="wsgi-py-app")
    wsgi = app.src / "wsgi.py"
    wsgi.write_text(wsgi.read_text().replace("application", "app"))
    running = run_warp(app)
    running.wait_ready("/")
    status, body = running.get("/")
    assert status == 200 and body.startswith("hello from flask"), running.output()


QUART_BLOG = '''
from quart import Quart

app = Quart(__name__)


@app.get("/")
async def index():
    return "hello from the blog package"
'''

QUART_PYPROJECT = '''
[project]
name = "blog"
version = "0.1.0"
dependencies = ["quart"]

[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"
'''


def test_quarts_tutorial_package_in_src_is_found_and_served_on_an_asgi_server(run_warp):
    """Quart's tutorial layout (src/blog/__init__.py, a pyproject.toml naming the package): no --app needed."""
    from conftest import warp

    app = build_app("fastapi_app", "granian", copy_as="quart-blog")
    (app.src / "main.py").unlink(missing_ok=True)
    (app.src / "requirements.txt").unlink(missing_ok=True)
    (app.src / "pyproject.toml").write_text(textwrap.dedent(QUART_PYPROJECT))
    (app.src / "src" / "blog").mkdir(parents=True, exist_ok=True)
    (app.src / "src" / "blog" / "__init__.py").write_text(textwrap.dedent(QUART_BLOG))
    warp("build", cwd=app.src, home=app.home)
    plan = warp("plan", cwd=app.src, home=app.home).stdout
    assert "the project's package blog (in src/) defines app" in plan and re.search(r"^interface +asgi ", plan, re.M), plan
    running = run_warp(app)
    running.wait_ready("/")
    assert running.get("/") == (200, "hello from the blog package"), running.output()

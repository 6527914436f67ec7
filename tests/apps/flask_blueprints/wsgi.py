import os

from flask import Flask

import config
import greeter
import ticker
from blog import bp as blog
from shop.views import bp as shop


def create_app():
    app = Flask(__name__)
    app.config.from_object(config)
    app.register_blueprint(shop)
    app.register_blueprint(blog, url_prefix="/blog")

    @app.route("/pid")
    def pid():
        return f"pid {os.getpid()} extra {os.environ.get('EXTRA')}"

    @app.route("/deps")
    def deps():
        # A dependency's thread runs and a dependency that read the settings read them as they are now.
        return f"ticking {ticker.thread.is_alive()} {greeter.GREETING}"

    return app


application = create_app()

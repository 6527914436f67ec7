import os

from flask import Flask

wsgi_app = Flask(__name__)


@wsgi_app.route("/")
def index():
    return f"{os.environ.get('BLOG_TITLE', 'untitled')} blog"

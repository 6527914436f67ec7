import time

from pyramid.config import Configurator
from pyramid.response import Response


def main(global_config, **settings):
    greeting = settings.get("greeting", "hello")
    with Configurator(settings=settings) as config:
        config.add_route("index", "/")
        config.add_view(lambda request: Response(greeting), route_name="index")
        config.add_route("slow", "/slow")
        config.add_view(lambda request: (time.sleep(3), Response("slow done"))[1], route_name="slow")
        return config.make_wsgi_app()

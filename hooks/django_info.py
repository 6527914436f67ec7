"""Print Django's WSGI_APPLICATION, STATIC_URL, STATIC_ROOT and whether WhiteNoise's middleware serves them, as JSON.

Run by the app's interpreter with DJANGO_SETTINGS_MODULE set.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import fail_from_app, find_static_url, has_whitenoise_middleware, reply  # noqa: E402  (path set just above)


def load_settings():
    module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018  (forces the settings module to load)
    except ImportError as exc:
        if getattr(exc, "name", "") == "django":
            sys.stderr.write("Django is not installed in the env; add it to requirements.txt and run `warp build`\n")
            sys.exit(1)
        fail_from_app(f"Django settings module {module!r} could not be imported", exc)
    except Exception as exc:  # noqa: BLE001  (any error in the user's settings is reported, not raised)
        fail_from_app(f"Django settings module {module!r} failed to load", exc)
    return settings


def main():
    settings = load_settings()
    import django

    reply(
        django_version=django.get_version(),
        settings_module=os.environ.get("DJANGO_SETTINGS_MODULE"),
        wsgi_application=getattr(settings, "WSGI_APPLICATION", None),
        static_url=find_static_url(settings),
        static_root=str(settings.STATIC_ROOT) if settings.STATIC_ROOT else None,
        uses_staticfiles="django.contrib.staticfiles" in settings.INSTALLED_APPS,
        whitenoise_middleware=has_whitenoise_middleware(settings),
        debug=bool(settings.DEBUG),
    )


if __name__ == "__main__":
    main()

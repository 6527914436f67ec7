"""Run Django's collectstatic without the user editing settings.

When the project sets no STATIC_ROOT, files go to WARP_STATIC_FALLBACK (a
directory warp owns in the env). With WARP_STATIC_CLEAR=1 (after a build that
did not finish) the static root is cleared first. Prints JSON with where the
files went.

collectstatic copies a file only when its source is newer than the copy to the
second; a source saved in the same second as the last copy (an editor's second
save under --reload) is made to count by removing that copy first.
"""

import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import fail_from_app, find_static_root, find_static_url, has_whitenoise_middleware, reply  # noqa: E402  (path set just above)


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
    if "django.contrib.staticfiles" not in settings.INSTALLED_APPS:
        reply(skipped="django.contrib.staticfiles is not in INSTALLED_APPS", static_root=None)
        return
    fallback = os.environ["WARP_STATIC_FALLBACK"]
    settings.STATIC_ROOT = find_static_root(settings, fallback)
    own_root = settings.STATIC_ROOT != fallback
    import django
    from django.core.management import call_command

    out = io.StringIO()
    try:
        django.setup()
        clear = os.environ.get("WARP_STATIC_CLEAR") == "1"
        if not clear:
            forget_copies_older_than_their_source()
        call_command("collectstatic", interactive=False, verbosity=1, clear=clear, stdout=out)
    except Exception as exc:  # noqa: BLE001  (the app's error is shown as the app's)
        fail_from_app("collectstatic failed", exc)
    summary = [line for line in out.getvalue().splitlines() if line.strip()]
    reply(
        static_root=str(settings.STATIC_ROOT),
        static_root_from="settings" if own_root else "warp",
        summary=summary[-1] if summary else "",
        static_url=find_static_url(settings),
        wsgi_application=getattr(settings, "WSGI_APPLICATION", None),
        whitenoise_middleware=has_whitenoise_middleware(settings),
    )


def forget_copies_older_than_their_source():
    """Remove each collected copy older than its source within the same second, which collectstatic would keep."""
    from django.contrib.staticfiles.finders import get_finders
    from django.contrib.staticfiles.storage import staticfiles_storage

    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            prefixed = os.path.join(storage.prefix, path) if getattr(storage, "prefix", None) else path
            try:
                source, copy = os.stat(storage.path(path)), os.stat(staticfiles_storage.path(prefixed))
            except (OSError, NotImplementedError):  # not collected yet, or not on a local disk
                continue
            if copy.st_mtime_ns < source.st_mtime_ns and int(copy.st_mtime) == int(source.st_mtime):
                os.remove(staticfiles_storage.path(prefixed))


if __name__ == "__main__":
    main()

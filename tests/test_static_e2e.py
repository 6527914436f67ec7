"""Django's static files end to end: hashed names cached for good, precompressed copies, the app's own WhiteNoise."""

from __future__ import annotations

import gzip
import json
import urllib.request

import pytest

from conftest import SERVERS, build_app, server_param, warp

pytestmark = pytest.mark.e2e

IMMUTABLE = "max-age=315360000, public, immutable"


def fetch(url: str, encoding: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the body as sent (urllib never decodes a Content-Encoding)."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": encoding} if encoding else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def hashed_name(app, name: str) -> str:
    """The name ManifestStaticFilesStorage gave ``name`` (site.css -> site.0123456789ab.css)."""
    manifest = json.loads((app.src / "collected" / "staticfiles.json").read_text())
    return manifest["paths"][name]


@pytest.mark.parametrize("server", [server_param(s) for s in SERVERS])
def test_hashed_static_files_are_immutable_and_precompressed_on_each_server(server, run_warp):
    app = build_app("django_manifest", server)
    hashed = hashed_name(app, "site.css")
    collected = app.src / "collected"
    original = (collected / hashed).read_bytes()
    running = run_warp(app, "--server", server)
    running.wait_ready(f"/static/{hashed}")

    status, headers, body = fetch(running.url(f"/static/{hashed}"))
    assert (status, body) == (200, original), running.output()
    assert headers.get("Cache-Control") == IMMUTABLE, headers

    status, headers, body = fetch(running.url(f"/static/{hashed}"), "gzip")
    assert status == 200 and headers.get("Content-Encoding") == "gzip", headers
    assert gzip.decompress(body) == original
    assert headers.get("Cache-Control") == IMMUTABLE, headers
    assert "Accept-Encoding" in headers.get("Vary", ""), headers

    status, headers, body = fetch(running.url(f"/static/{hashed}"), "br")
    assert status == 200 and headers.get("Content-Encoding") == "br", headers
    assert body == (collected / f"{hashed}.br").read_bytes()  # the copy collectstatic wrote

    status, headers, body = fetch(running.url("/static/site.css"))  # the unhashed name may change content
    assert (status, body) == (200, original)
    assert headers.get("Cache-Control") == "max-age=60, public", headers
    assert running.stop() == 0, running.output()


@pytest.mark.parametrize("server", [server_param(s) for s in SERVERS])
def test_an_app_with_whitenoise_middleware_serves_its_own_static_files(server, run_warp):
    app = build_app("django_whitenoise", server)
    hashed = hashed_name(app, "site.css")
    running = run_warp(app, "--server", server)
    running.wait_ready(f"/static/{hashed}")

    status, headers, _ = fetch(running.url("/static/site.css"))
    assert status == 200
    assert headers.get("Cache-Control") == "max-age=4321, public", headers  # the app's WHITENOISE_MAX_AGE

    status, headers, body = fetch(running.url(f"/static/{hashed}"), "gzip")
    assert status == 200 and headers.get("Content-Encoding") == "gzip", headers
    assert gzip.decompress(body) == (app.src / "collected" / hashed).read_bytes()
    assert headers.get("Cache-Control") == IMMUTABLE, headers
    assert running.stop() == 0, running.output()

    plan = warp("plan", "--server", server, cwd=app.src, home=app.home).stdout
    line = next(line for line in plan.splitlines() if line.startswith("static files"))
    assert "served by the app: its WhiteNoise middleware (whitenoise.middleware.WhiteNoiseMiddleware in MIDDLEWARE)" in line, plan

"""Projects as their own docs make them: where the root is, whose env it is, which Python, which lock, what the plan and the logs say."""

from __future__ import annotations

import re

from conftest import build_app


def test_gunicorn_names_the_address_when_each_worker_has_its_own_socket(run_warp):
    """With --reuse-port (gunicorn 24+, more than one process) the arbiter holds no socket and gunicorn logs
    "Listening at:  (PID)"; warp's logger says where the workers listen."""
    app = build_app("flask_wsgi", "gunicorn")
    running = run_warp(app, "--server", "gunicorn", "--processes", "2")
    running.wait_ready("/")
    assert running.get("/")[0] == 200
    running.stop()
    log = running.output()
    assert re.search(rf"Listening at: http://127\.0\.0\.1:{running.port}\b.* \(\d+\)", log), log
    assert "Listening at:  (" not in log, log
    assert re.search(r'"GET / HTTP/1\.1" 200', log), log  # the access log is gunicorn's own, as before

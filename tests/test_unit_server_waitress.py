"""warp.servers.waitress: the Waitress, through warp's launcher adapter's command, stop, static files and sockets for a resolved launch; pure."""

from __future__ import annotations

from planning import *  # noqa: F403  (the facts and helpers every planning test uses)


def test_waitress_module():
    plan = start("waitress", MODULE, flags={"processes": "4"})
    argv = plan.argv
    assert argv[:2] == (str(ENV / "bin/python"), str(HOOKS / "waitress_serve.py"))
    assert after(argv, "--listen") == "127.0.0.1:8080"
    assert after(argv, "--threads") == "4"
    assert after(argv, "--processes") == "4"
    assert after(argv, "--script") == str(RUN / "warp_wsgi.py") and after(argv, "--callable") == "application"
    assert loads(plan, "module", "wsgiapp", "wsgi_app")
    assert "--static-url" not in argv and "--autorefresh" not in argv
    assert plan.stop == Stop("exec", timeout=30.0)
    assert {d.name: d.value for d in plan.decisions}["processes x threads"] == "4 x 4"


def test_waitress_script_paste_static_reload():
    assert loads(start("waitress", SCRIPT), "script", str(SCRIPT.script), "app")
    assert loads(start("waitress", PASTE), "paste", str(PASTE.ini), "application")
    plan = start("waitress", with_static(MODULE), reload=True)
    module = generated_module(plan)
    assert "_static = ('/static/', " + repr(str(STATIC_ROOT)) + ")" in module
    assert f"immutable_file_test={HASHED_STATIC_NAME!r}" in module and "autorefresh=True" in module
    assert "WhiteNoise" not in generated_module(start("waitress", MODULE))

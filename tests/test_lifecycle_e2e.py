"""The action hooks (.warp/action_hooks) and the commands that run them: deploy-cfg, deploy, migrate, alive, ready."""

from __future__ import annotations

import shutil

import pytest

from conftest import APPS, BuiltApp, build_app, free_port, warp

pytestmark = pytest.mark.e2e


def test_deploy_cfg_runs_once_per_env_and_deploy_every_start(tmp_path, run_warp):
    project = tmp_path / "project"
    shutil.copytree(APPS / "flask_wsgi", project)
    hooks = project / ".warp" / "action_hooks"
    hooks.mkdir(parents=True)
    for name in ("deploy-cfg", "deploy"):
        hook = hooks / name
        hook.write_text(f'#!/bin/sh\necho {name} "$WARP_ENV_NAME" >> "$WARP_SRC_ROOT/hooks.log"\n')
        hook.chmod(0o755)
    home = tmp_path / "home"
    warp("build", cwd=project, home=home)
    app = BuiltApp("hooked", project, home)
    for _ in range(2):
        running = run_warp(app)
        running.wait_ready("/")
        assert running.stop() == 0
    assert (project / "hooks.log").read_text().splitlines() == ["deploy-cfg project", "deploy project", "deploy project"]


def test_failing_deploy_hook_stops_the_start(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(APPS / "flask_wsgi", project)
    hook = project / ".warp" / "action_hooks" / "deploy"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\necho cannot reach the database >&2\nexit 4\n")
    hook.chmod(0o755)
    home = tmp_path / "home"
    warp("build", cwd=project, home=home)
    result = warp("start", "--port", str(free_port()), cwd=project, home=home, check=False)
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
    assert "error: deploy hook failed (exit code 4)" in result.stderr


def test_start_before_build_says_to_build(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(APPS / "flask_wsgi", project)
    home = tmp_path / "home"
    warp("activate", cwd=project, home=home)
    result = warp("start", cwd=project, home=home, check=False)
    assert result.returncode == 1
    assert "has no successful build" in result.stderr
    assert "run `warp build` first" in result.stderr


def test_migrate_runs_django_migrate_without_a_hook():
    app = build_app("django_site", "gunicorn")
    result = warp("migrate", cwd=app.src, home=app.home)
    assert "Running manage.py migrate --noinput" in result.stderr
    assert "Apply" in result.stdout or "No migrations to apply" in result.stdout


def test_alive_and_ready_probe_the_running_app(run_warp):
    app = build_app("flask_wsgi", "gunicorn")
    running = run_warp(app)
    running.wait_ready("/")
    probe_env = {"WARP_HTTP_PORT": str(running.port), "WARP_HTTP_HOST": "127.0.0.1"}
    for command in ("alive", "ready"):
        result = warp(command, cwd=app.src, home=app.home, env=probe_env)
        assert f"{command}: http://127.0.0.1:{running.port}/ answered 200" in result.stderr
    running.stop()
    result = warp("alive", cwd=app.src, home=app.home, env=probe_env, check=False)
    assert result.returncode == 1
    assert "error: alive: no answer from" in result.stderr


def test_start_uses_the_server_of_the_last_build_and_names_a_missing_one(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(APPS / "flask_wsgi", project)
    home = tmp_path / "home"
    warp("build", "--server", "waitress", cwd=project, home=home)
    plan = warp("plan", "--host", "127.0.0.1", cwd=project, home=home)
    assert "server               waitress" in plan.stdout
    assert "because the server of the last `warp build`" in plan.stdout
    result = warp("start", "--server", "gunicorn", "--port", str(free_port()), cwd=project, home=home, check=False)
    assert result.returncode == 1
    assert "error: gunicorn is not installed in env 'project'" in result.stderr
    assert "run `warp build --server gunicorn`" in result.stderr

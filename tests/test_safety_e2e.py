"""Exposure: what warp creates is private or at least not world-writable, and listening on every interface is said.

(127.0.0.1 as the default outside a container is a planner decision: test_unit_plan's find_host table.)
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BuiltApp, RunningWarp, free_port, warp_environ

pytestmark = pytest.mark.e2e

WSGI = "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'ok']\n"
ALL_INTERFACES = " -----> Listening on all interfaces (0.0.0.0); pass --host 127.0.0.1 to keep it local"


def with_umask_zero() -> None:
    os.umask(0)


def world_writable(root: Path) -> list[str]:
    """Files and directories under ``root`` that anyone may write (symlinks do not count)."""
    found = []
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        if not stat.S_ISLNK(info.st_mode) and info.st_mode & stat.S_IWOTH:
            found.append(f"{oct(info.st_mode & 0o7777)} {path}")
    return found


def test_warp_home_is_private_and_nothing_warp_creates_is_world_writable(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "wsgi.py").write_text(WSGI)
    (project / "requirements.txt").write_text("")
    home = tmp_path / "new" / "warp-home"  # neither exists yet
    build = subprocess.run(
        [sys.executable, "-m", "warp", "build"], cwd=project, env=warp_environ(home), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, preexec_fn=with_umask_zero, timeout=600,
    )
    assert build.returncode == 0, build.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o700

    running = RunningWarp(BuiltApp("project", project, home), ["--host", "0.0.0.0"], free_port())
    try:
        running.wait_ready("/")
        assert running.output().splitlines().count(ALL_INTERFACES) == 1
        assert running.stop() == 0
    finally:
        running.close()
    assert (home / "envs" / "project" / ".warp" / "run").is_dir()
    assert world_writable(home) == []


def test_an_existing_warp_home_keeps_its_mode_and_a_local_start_says_nothing_about_interfaces(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "wsgi.py").write_text(WSGI)
    home = tmp_path / "shared-home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    subprocess.run([sys.executable, "-m", "warp", "build"], cwd=project, env=warp_environ(home), check=True, capture_output=True)
    running = RunningWarp(BuiltApp("project", project, home), [], free_port())  # --host 127.0.0.1
    try:
        running.wait_ready("/")
        assert "Listening on all interfaces" not in running.output()
        assert running.stop() == 0
    finally:
        running.close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o755

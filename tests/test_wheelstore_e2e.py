"""Compiled servers (uWSGI, mod_wsgi) are compiled once per build configuration: a second env installs the kept wheel.

Real envs and real compiles, without the wheels the other tests share (see conftest.server_wheels): each test
has a WARP_HOME of its own, so the first env compiles. That nothing is compiled again is seen from outside:
a C compiler on PATH that writes down each run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import APPS, TEST_PYTHON, WHEELS, server_param, warp_environ

pytestmark = pytest.mark.e2e

COMPILERS = ("cc", "gcc", "x86_64-linux-gnu-gcc", "aarch64-linux-gnu-gcc")


def clean_environ(home: Path, **extra: str) -> dict[str, str]:
    """warp's environment for the tests, without the find-links to the wheels built for the other tests."""
    environ = warp_environ(home)
    for key in ("UV_FIND_LINKS", "PIP_FIND_LINKS"):
        if environ.get(key) == str(WHEELS):
            if key in os.environ and os.environ[key] != str(WHEELS):
                environ[key] = os.environ[key]
            else:
                del environ[key]
    environ.update(extra)
    return environ


def build(project: Path, environ: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "warp", "build", *args], cwd=project, env=environ,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return result


def make_project(tmp_path: Path, name: str, requirements: str | None = None) -> Path:
    project = tmp_path / name
    shutil.copytree(APPS / "flask_wsgi", project)
    if requirements is not None:
        (project / "requirements.txt").write_text(requirements)
    return project


def watched_compilers(tmp_path: Path) -> tuple[Path, Path]:
    """A directory of compilers that log each run and then run the real one, and the log."""
    where, log = tmp_path / "compilers", tmp_path / "compilers.log"
    where.mkdir()
    for name in COMPILERS:
        real = shutil.which(name)
        if real:
            script = where / name
            script.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\nexec {real} "$@"\n')
            script.chmod(0o755)
    return where, log


def kept_wheels(home: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in (home / "wheels").glob("*/*.whl")}


def other_python() -> str | None:
    """An interpreter of another minor version than the tests' one, with its headers, or None."""
    mine = subprocess.run([TEST_PYTHON, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True).stdout
    for candidate in sorted(Path("/root/.pyenv/versions").glob("3.1[0-9]*/bin/python"), reverse=True) + [Path(p) for p in ("/usr/bin/python3.12", "/usr/bin/python3.10")]:
        code = "import sys, sysconfig, os; print(sys.version_info[:2]); print(os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"
        out = subprocess.run([str(candidate), "-c", code], capture_output=True, text=True).stdout.split("\n") if candidate.exists() else []
        if len(out) > 1 and out[0] != mine.strip() and out[1] == "True":
            return str(candidate)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("server", [server_param("uwsgi")])
def test_later_envs_with_the_same_python_install_the_kept_uwsgi_wheel_and_compile_nothing(tmp_path, server):
    home = tmp_path / "home"
    # Named in requirements.txt: compiled while the dependencies install, and kept.
    first = build(make_project(tmp_path, "one", "Flask\nuWSGI  # the server\n"), clean_environ(home))
    lines = first.stderr.splitlines()
    at = lines.index(" -----> Installing dependencies with uv (requirements.txt)")
    assert re.fullmatch(r"        compiling uWSGI \d[\w.]* for Python 3\.\d+\.\d+ \(about 20 s, the first time\)", lines[at + 1]), first.stderr
    assert re.fullmatch(r"        compiled uWSGI \d[\w.]* in \d+\.\d s; later envs with this Python reuse it", lines[at + 2]), first.stderr
    kept = kept_wheels(home)
    assert len(kept) == 1
    wheel = next(iter(kept))
    reusing = f"        reusing the uWSGI {wheel.name.split('-')[1]} wheel built for Python "

    compilers, log = watched_compilers(tmp_path)
    environ = clean_environ(home, PATH=f"{compilers}{os.pathsep}{os.environ['PATH']}")
    # Installed as the server (--server), then named in requirements.txt again: neither compiles.
    second = build(make_project(tmp_path, "two"), environ, "--server", server)
    third = build(make_project(tmp_path, "three", "Flask\nuwsgi\n"), environ)
    assert not log.exists(), f"a compiler ran {len(log.read_text().splitlines())} times, first: {log.read_text()[:200]}"
    for result, step in ((second, " -----> Installing uwsgi"), (third, " -----> Installing dependencies with uv (requirements.txt)")):
        lines = result.stderr.splitlines()
        assert lines[lines.index(step) + 1].startswith(reusing), result.stderr
        assert "compiling" not in result.stderr
    assert kept_wheels(home) == kept
    for env in ("two", "three"):
        version = subprocess.run([str(home / "envs" / env / "bin" / "uwsgi"), "--version"], capture_output=True, text=True)
        assert version.stdout.strip() == wheel.name.split("-")[1]
        # Installed by name, not from a path on this machine: the image's wheelhouse reads `pip freeze`.
        freeze = subprocess.run([str(home / "envs" / env / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True)
        assert f"uWSGI=={wheel.name.split('-')[1]}".lower() in freeze.stdout.lower().splitlines(), freeze.stdout


@pytest.mark.slow
@pytest.mark.parametrize("server", [server_param("uwsgi")])
def test_an_env_with_another_python_compiles_its_own_uwsgi_wheel(tmp_path, server):
    python = other_python()
    if python is None:
        pytest.skip("no second Python minor version with its headers on this machine")
    home = tmp_path / "home"
    build(make_project(tmp_path, "one"), clean_environ(home), "--server", server)
    kept = kept_wheels(home)
    other = build(make_project(tmp_path, "two"), clean_environ(home, WARP_PYTHON=python), "--server", server)
    assert "        compiling uWSGI " in other.stderr and "reusing" not in other.stderr
    added = set(kept_wheels(home)) - set(kept)
    assert len(added) == 1 and kept_wheels(home).items() >= kept.items()
    wheel = (home / "envs" / "two").glob("lib/python*/site-packages/uwsgi-*.dist-info/WHEEL")
    tag = subprocess.run([python, "-c", "import sys; print('cp%d%d' % sys.version_info[:2])"], capture_output=True, text=True).stdout.strip()
    assert f"Tag: {tag}-{tag}-" in next(wheel).read_text()


@pytest.mark.slow
@pytest.mark.parametrize("server", [server_param("mod_wsgi")])
def test_mod_wsgi_is_reused_with_the_same_apxs_and_compiled_again_with_another(tmp_path, server):
    home = tmp_path / "home"
    first = build(make_project(tmp_path, "one"), clean_environ(home), "--server", server)
    assert "        compiling mod_wsgi " in first.stderr
    kept = kept_wheels(home)
    assert len(kept) == 1

    second = build(make_project(tmp_path, "two"), clean_environ(home), "--server", server)
    assert "        reusing the mod_wsgi " in second.stderr and "compiling" not in second.stderr
    assert kept_wheels(home) == kept

    # Another Apache: an apxs of other contents (here one that runs the real one) is another build configuration.
    apxs = tmp_path / "apxs"
    apxs.write_text(f'#!/bin/sh\nexec {shutil.which("apxs") or shutil.which("apxs2")} "$@"\n')
    apxs.chmod(0o755)
    third = build(make_project(tmp_path, "three"), clean_environ(home, APXS=str(apxs)), "--server", server)
    assert "        compiling mod_wsgi " in third.stderr and "reusing" not in third.stderr
    assert len(kept_wheels(home)) == 2


def test_a_compiled_server_whose_markers_exclude_this_machine_is_neither_built_nor_installed(tmp_path):
    home = tmp_path / "home"
    project = make_project(tmp_path, "one", 'Flask\nuWSGI ; sys_platform == "win32"\n')
    result = build(project, clean_environ(home), "--server", "gunicorn")
    assert "compiling" not in result.stderr and "reusing" not in result.stderr
    assert not list((home / "envs" / "one").glob("lib/python*/site-packages/uwsgi-*.dist-info"))
    assert not list((home / "wheels").glob("*/*.whl"))

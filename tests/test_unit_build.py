"""warp.build's decisions: when a build is a no-op, what it records, what it says. The project is real (tmp_path); the
env's python is a tiny stand-in whose `-m pip install` puts a .dist-info in for each requirement and logs its
arguments, so no package index and no real virtualenv are needed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from planning import WORKSTATION

from warp import build
from warp.config.project import scan_app, scan_project
from warp.config.settings import find_settings
from warp.context import Context
from warp.env.inputs import scan_installed
from warp.env.venv import Env
from warp.errors import StepFailed

#: The env's python: `python -m pip install ... -r FILE ... NAME` installs each requirement it names (version 1.0, or
#: the one pinned with ==) and appends its arguments to installs.log beside the env; with a file `fail` there, it fails.
FAKE_PYTHON = f"""#!{sys.executable}
import json, os, sys
env = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
here = os.path.dirname(env)
args = sys.argv[1:]
if os.path.exists(os.path.join(here, "fail")):
    print("ERROR: No matching distribution found for nothing-here")
    sys.exit(1)
assert args[:3] == ["-m", "pip", "install"], args
with open(os.path.join(here, "installs.log"), "a") as log:
    log.write(json.dumps(args[3:]) + "\\n")
names, words = [], iter(args[3:])
for word in words:
    if word in ("-r", "-c"):
        with open(next(words)) as requirements:
            names += [line.strip() for line in requirements if line.strip() and not line.startswith(("#", "-"))]
    elif not word.startswith("-"):
        names.append(word)
site = os.path.join(env, "lib", "python3.12", "site-packages")
for name in names:
    name, _, version = name.partition("==")
    info = os.path.join(site, f"{{name}}-{{version or '1.0'}}.dist-info")
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "RECORD"), "w") as record:
        record.write(f"{{os.path.basename(info)}}/RECORD,,\\n")
"""


class Project:
    """A project and its env in tmp_path, as a build sees them."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "project"
        self.root.mkdir()
        (self.root / "requirements.txt").write_text("flask\n")
        (self.root / "wsgi.py").write_text("application = None\n")
        self.env = Env("blog", tmp_path / "env")
        self.env.state.mkdir(parents=True)
        self.env.bin.mkdir()
        (self.env.path / "lib" / "python3.12" / "site-packages").mkdir(parents=True)
        self.env.python.write_text(FAKE_PYTHON)
        self.env.python.chmod(0o755)
        self.env.meta_path.write_text(json.dumps({"name": "blog", "python_version": "3.12.1", "source": str(self.root)}))
        self.log = tmp_path / "installs.log"
        self.fail = tmp_path / "fail"
        self.reports: list[str] = []

    def context(self) -> Context:
        project = scan_project(self.root)
        environ = {"PATH": os.environ["PATH"], "HOME": str(self.root.parent), "WARP_NO_CACHE": "1"}
        settings = find_settings({"installer": "pip"}, environ, project.warp_files, project.tool)
        app = scan_app(project.root, settings["home"].value)
        return Context(environ, self.root.parent / "home", self.env, project.root, project, settings, app, WORKSTATION)

    def build(self, **kwargs) -> dict:
        self.reports.clear()
        return build.run_build(self.context(), self.reports.append, **kwargs)

    def installs(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def uninstall(self, name: str) -> None:
        for info in (self.env.path / "lib" / "python3.12" / "site-packages").glob(f"{name}-*.dist-info"):
            (info / "RECORD").unlink()
            info.rmdir()


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)


def test_a_first_build_installs_the_dependencies_with_the_server_and_records_it(project):
    record = project.build()
    assert project.installs() == [["--disable-pip-version-check", "-r", "requirements.txt", "gunicorn", "whitenoise"]]
    assert project.reports == [
        " -----> Installing dependencies with pip (requirements.txt)",
        " -----> Installing gunicorn, whitenoise (with the dependencies: one resolution)",
        " -----> Build of env blog finished",
    ]
    plan, _ = build.scan_build_plan(project.context())
    assert project.env.read_record() == record
    assert {key: record[key] for key in ("state", "fingerprint", "server", "servers_named", "installer", "python", "skipped_install")} == {
        "state": "ok", "fingerprint": plan.fingerprint, "server": "gunicorn", "servers_named": [], "installer": "pip",
        "python": "3.12.1", "skipped_install": False,
    }
    assert record["installed"] == build.make_installed_digest({"flask": "1.0", "gunicorn": "1.0", "whitenoise": "1.0"})
    assert project.env.read_meta()["last_build"] == record["finished"]


def test_a_build_of_unchanged_inputs_and_env_installs_nothing(project):
    project.build()
    record = project.build()
    assert len(project.installs()) == 1
    assert project.reports == [
        " -----> Dependencies unchanged, skipping install (use --force to reinstall)",
        " -----> Build of env blog finished",
    ]
    assert (record["state"], record["skipped_install"]) == ("ok", True)


REBUILDS = {
    "requirement-added": lambda p: (p.root / "requirements.txt").write_text("flask\nrequests\n"),
    "package-removed-by-hand": lambda p: p.uninstall("flask"),
    "package-added-by-hand": lambda p: (p.env.path / "lib/python3.12/site-packages/six-1.0.dist-info").mkdir(),
    "last-build-cut-short": lambda p: p.env.clear_record(),
    "no-record": lambda p: p.env.record_path.unlink(),
    "record-of-a-failed-build": lambda p: p.env.write_record({**p.env.read_record(), "state": "failed"}),
    "another-fingerprint": lambda p: p.env.write_record({**p.env.read_record(), "fingerprint": "0" * 64}),
}


@pytest.mark.parametrize("change", REBUILDS.values(), ids=REBUILDS)
def test_a_build_after_a_change_installs_again(project, change):
    project.build()
    change(project)
    project.build()
    assert len(project.installs()) == 2
    assert " -----> Dependencies unchanged, skipping install (use --force to reinstall)" not in project.reports


def test_force_installs_again(project):
    project.build()
    project.build(force=True)
    assert len(project.installs()) == 2


def test_an_unchanged_requirement_file_rewritten_is_still_a_no_op(project):
    project.build()
    (project.root / "requirements.txt").write_text("flask\n")
    os.utime(project.root / "requirements.txt", ns=(1_000_000_000, 1_000_000_000))
    project.build()
    assert len(project.installs()) == 1


def test_a_failed_install_leaves_the_env_unbuilt_until_a_build_succeeds(project):
    project.build()
    (project.root / "requirements.txt").write_text("flask\nnothing-here\n")
    project.fail.touch()
    with pytest.raises(StepFailed):
        project.build()
    record = project.env.read_record()
    assert (record["state"], record["fingerprint"]) == ("building", None)
    assert record["server"] == "gunicorn"  # the rest of the last record stays
    (project.root / "requirements.txt").write_text("flask\n")  # back to what the last good build installed
    project.fail.unlink()
    project.build()
    assert len(project.installs()) == 2
    assert project.env.read_record()["state"] == "ok"


@pytest.mark.parametrize("present, riders, reports", [
    (["gunicorn"], ["whitenoise"], [" -----> Installing whitenoise (with the dependencies: one resolution)"]),
    (["gunicorn", "whitenoise"], [], [" -----> gunicorn, whitenoise already installed"]),
])
def test_what_the_env_lacks_of_the_server_rides_with_the_dependencies(project, present, riders, reports):
    for name in present:
        (project.env.path / f"lib/python3.12/site-packages/{name}-1.0.dist-info").mkdir()
    project.build()
    assert project.installs() == [["--disable-pip-version-check", "-r", "requirements.txt", *riders]]
    assert project.reports == [" -----> Installing dependencies with pip (requirements.txt)", *reports, " -----> Build of env blog finished"]


def test_the_servers_named_by_the_requirements_are_recorded(project):
    (project.root / "requirements.txt").write_text("flask\nwaitress\n")
    assert project.build()["servers_named"] == ["waitress"]


def test_a_pre_build_hook_runs_on_every_build(project):
    hooks = project.root / ".warp" / "action_hooks"
    hooks.mkdir(parents=True)
    (hooks / "pre-build").write_text('#!/bin/sh\necho run >> "$WARP_ENV_ROOT/../hook.log"\n')
    (hooks / "pre-build").chmod(0o755)
    project.build()
    project.build()
    assert (project.env.path.parent / "hook.log").read_text() == "run\nrun\n"
    assert project.reports[0] == " -----> Running pre-build hook"


# ---------------------------------------------------------------- small decisions


def test_the_installed_digest_is_of_names_and_versions_in_any_order():
    digest = build.make_installed_digest({"flask": "3.0", "gunicorn": "23.0"})
    assert build.make_installed_digest({"gunicorn": "23.0", "flask": "3.0"}) == digest
    assert build.make_installed_digest({"flask": "3.1", "gunicorn": "23.0"}) != digest
    assert build.make_installed_digest({"flask": "3.0"}) != digest


@pytest.mark.parametrize("environ, cache", [
    ({"WARP_NO_CACHE": "1", "WARP_CACHE_DIR": "/c"}, None),
    ({"WARP_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}, Path("/c")),
    ({"XDG_CACHE_HOME": "/x"}, Path("/x/warp")),
    ({"WARP_NO_CACHE": "0"}, Path.home() / ".cache" / "warp"),
    ({}, Path.home() / ".cache" / "warp"),
])
def test_the_bytecode_cache_directory(environ, cache):
    assert build.find_cache_dir(environ) == cache


def test_a_bytecode_cache_others_can_write_to_is_not_used(tmp_path):
    reports: list[str] = []
    cache = tmp_path / "cache"
    assert build.ensure_bytecode_cache(cache, reports.append) == cache / "bytecode"
    assert (cache.stat().st_mode & 0o777, (cache / "bytecode").stat().st_mode & 0o777) == (0o700, 0o700)
    assert reports == []
    (cache / "bytecode").chmod(0o777)
    assert build.ensure_bytecode_cache(cache, reports.append) is None
    assert reports[0] == (f"warning: the bytecode cache is not used: {cache / 'bytecode'} is not a private directory of this user "
                          "(owner, mode or symlink)")


@pytest.mark.parametrize("output, message", [
    ("ERROR: No matching distribution found for psycopg2==9.9",
     "psycopg2==9.9 cannot be put into the wheelhouse (pip has no distribution of it to build a wheel from)"),
    ("ERROR: Could not find a version that satisfies the requirement left-pad (from versions: none)",
     "left-pad cannot be put into the wheelhouse (pip has no distribution of it to build a wheel from)"),
    ("  OSError: apxs not found\nERROR: Failed to build 'mod_wsgi'",
     "mod_wsgi cannot be put into the wheelhouse: its source distribution failed to build (OSError: apxs not found)"),
])
def test_a_requirement_the_wheelhouse_cannot_get_is_named(tmp_path, output, message):
    argv = [sys.executable, "-c", f"print({output!r}); raise SystemExit(1)"]
    with pytest.raises(StepFailed) as caught:
        build._run_wheel_step(argv, dict(os.environ), Context(dict(os.environ), tmp_path, None, tmp_path, None, None, None, None))
    assert caught.value.message == message
    assert caught.value.returncode == 1


def test_the_installed_set_is_read_from_the_env(project):
    project.build()
    assert scan_installed(project.env) == {"flask": "1.0", "gunicorn": "1.0", "whitenoise": "1.0"}

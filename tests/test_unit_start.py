"""warp.run.start's decisions that need no server: the set-up commands' stamp (what keys it, when they run again), and the
messages made from the project. Real files and real tiny programs in tmp_path."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from planning import MODULE
from planning import start as make_start
from test_unit_build import Project

from warp.config.project import scan_app, scan_project
from warp.config.settings import find_settings
from warp.context import Context
from warp.env.venv import Env, read_json_dict
from warp.errors import UsageError
from warp.run import start

#: A stand-in for mod_wsgi-express setup-server: writes two files into the server root (its first argument) from its
#: arguments and environment, and appends a line to a counter file (its second argument).
SETUP_SERVER = f"""#!{sys.executable}
import os, sys
root, counter = sys.argv[1], sys.argv[2]
with open(os.path.join(root, "httpd.conf"), "w") as conf:
    conf.write(" ".join(sys.argv[3:]) + " " + os.environ.get("PORT", "") + "\\n")
with open(os.path.join(root, "envvars"), "w") as envvars:
    envvars.write("export LANG=C.UTF-8\\n")
with open(counter, "a") as runs:
    runs.write("ran\\n")
"""
#: A second set-up command, which writes nothing: only its content is an input.
HELPER = "#!/bin/sh\ntrue\n"


@dataclasses.dataclass
class Scene:
    ctx: SimpleNamespace
    plan: object
    root: Path
    counter: Path
    programs: tuple[Path, Path]
    record: Path
    elsewhere: Path

    def key(self) -> str:
        return start.scan_prepare_key(self.ctx, self.plan)

    def runs(self) -> int:
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0


def write_program(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def scene(tmp_path) -> Scene:
    """A mod_wsgi start plan whose set-up commands are the two programs above, with a build record in a real env."""
    env = Env("blog", tmp_path / "env")
    env.state.mkdir(parents=True)
    env.write_record({"state": "ok", "fingerprint": "f1"})
    root = tmp_path / "server-root"
    root.mkdir()
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    counter = tmp_path / "runs.log"
    setup = write_program(tmp_path / "setup-server", SETUP_SERVER)
    helper = write_program(tmp_path / "helper", HELPER)
    plan = dataclasses.replace(
        make_start("mod_wsgi", MODULE),
        prepare=((str(setup), str(root), str(counter), "--port", "8080"), (str(helper),)),
        environ={"PATH": "/usr/bin:/bin", "PORT": "8080"},
        cwd=tmp_path / "project",
        server_root=root,
    )
    return Scene(SimpleNamespace(env=env), plan, root, counter, (setup, helper), env.record_path, tmp_path / "elsewhere")


def replace_plan(**changes):
    def change(scene, monkeypatch):
        scene.plan = dataclasses.replace(scene.plan, **{name: value(scene) for name, value in changes.items()})

    return change


def edit(path_of, text: str = "# edited\n"):
    def change(scene, monkeypatch):
        path = path_of(scene)
        path.write_text(path.read_text() + text)

    return change


def rewrite_same(path_of):
    """The same content written again, with another mtime."""

    def change(scene, monkeypatch):
        path = path_of(scene)
        path.write_bytes(path.read_bytes())
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))

    return change


CHANGES_KEY = {
    "arguments": replace_plan(prepare=lambda s: ((*s.plan.prepare[0][:-1], "9000"), s.plan.prepare[1])),
    "a-command-more": replace_plan(prepare=lambda s: (*s.plan.prepare, (str(s.programs[1]), "--again"))),
    "environ-value": replace_plan(environ=lambda s: {**s.plan.environ, "PORT": "9000"}),
    "environ-added": replace_plan(environ=lambda s: {**s.plan.environ, "SECRET_KEY": "s3cret"}),
    "environ-removed": replace_plan(environ=lambda s: {"PATH": "/usr/bin:/bin"}),
    "cwd": replace_plan(cwd=lambda s: s.elsewhere),
    "first-program": edit(lambda s: s.programs[0]),
    "second-program": edit(lambda s: s.programs[1]),
    "build-record": lambda s, mp: s.ctx.env.write_record({"state": "ok", "fingerprint": "f2"}),
    "installed-set": lambda s, mp: s.ctx.env.write_record({"state": "ok", "fingerprint": "f1", "installed": "i2"}),
    "warp-version": lambda s, mp: mp.setattr(start, "__version__", "0.0.0-other"),
}
KEEPS_KEY = {
    "same": lambda s, mp: None,
    "unrelated-environ": lambda s, mp: mp.setenv("WARP_TEST_UNRELATED", "1"),
    "build-record-rewritten": rewrite_same(lambda s: s.record),
    "a-no-op-build": lambda s, mp: s.ctx.env.write_record({"state": "ok", "fingerprint": "f1", "finished": 1.0, "timings": {"install": 0.1}}),
    "program-touched": rewrite_same(lambda s: s.programs[0]),
    "server-root-files": lambda s, mp: (s.root / "httpd.pid").write_text("123\n"),
}


@pytest.mark.parametrize("change", CHANGES_KEY.values(), ids=CHANGES_KEY)
def test_each_input_of_the_set_up_commands_changes_their_key(scene, monkeypatch, change):
    before = scene.key()
    change(scene, monkeypatch)
    after = scene.key()
    assert after != before
    assert scene.key() == after  # and is stable


@pytest.mark.parametrize("change", KEEPS_KEY.values(), ids=KEEPS_KEY)
def test_what_the_set_up_commands_do_not_read_keeps_their_key(scene, monkeypatch, change):
    before = scene.key()
    change(scene, monkeypatch)
    assert scene.key() == before


def test_the_key_holds_no_secret_of_the_environment(scene):
    scene.plan = dataclasses.replace(scene.plan, environ={**scene.plan.environ, "SECRET_KEY": "s3cret"})
    start.run_prepare(scene.ctx, scene.plan)
    assert "s3cret" not in (scene.root / start.PREPARED).read_text()


# ---------------------------------------------------------------- run_prepare


def test_the_set_up_commands_run_once_then_are_skipped(scene):
    start.run_prepare(scene.ctx, scene.plan)
    assert scene.runs() == 1
    saved = json.loads((scene.root / start.PREPARED).read_text())
    assert saved["key"] == scene.key()
    assert sorted(saved["files"]) == ["envvars", "httpd.conf"]
    start.run_prepare(scene.ctx, scene.plan)
    assert scene.runs() == 1


@pytest.mark.parametrize("damage", [
    lambda path: path.write_text(path.read_text() + "Listen 9999\n"),
    lambda path: path.unlink(),
], ids=["edited", "deleted"])
@pytest.mark.parametrize("name", ["httpd.conf", "envvars"])
def test_the_set_up_commands_run_again_when_a_file_they_wrote_changed(scene, name, damage):
    start.run_prepare(scene.ctx, scene.plan)
    damage(scene.root / name)
    start.run_prepare(scene.ctx, scene.plan)
    assert scene.runs() == 2
    start.run_prepare(scene.ctx, scene.plan)  # and what they wrote again is the new stamp
    assert scene.runs() == 2


@pytest.mark.parametrize("change", CHANGES_KEY.values(), ids=CHANGES_KEY)
def test_the_set_up_commands_run_again_when_an_input_changed(scene, monkeypatch, change):
    start.run_prepare(scene.ctx, scene.plan)
    change(scene, monkeypatch)
    start.run_prepare(scene.ctx, scene.plan)
    assert scene.runs() == 2


def test_what_a_running_server_adds_to_the_server_root_does_not_run_them_again(scene):
    start.run_prepare(scene.ctx, scene.plan)
    (scene.root / "httpd.pid").write_text("123\n")
    start.run_prepare(scene.ctx, scene.plan)
    assert scene.runs() == 1


def test_what_a_server_left_in_the_server_root_before_them_is_not_theirs(scene):
    """A pid file of an earlier server is no file of the set-up commands: its going does not run them again."""
    (scene.root / "httpd.pid").write_text("123\n")
    os.utime(scene.root / "httpd.pid", ns=(1_000_000_000, 1_000_000_000))
    start.run_prepare(scene.ctx, scene.plan)
    assert sorted(json.loads((scene.root / start.PREPARED).read_text())["files"]) == ["envvars", "httpd.conf"]
    (scene.root / "httpd.pid").unlink()
    start.run_prepare(scene.ctx, scene.plan)
    assert scene.runs() == 1


@pytest.mark.parametrize("stamp", [
    lambda saved: "not json",
    lambda saved: "[1, 2]",
    lambda saved: json.dumps({"key": saved["key"], "files": {}}),  # the commands wrote nothing that can be checked
    lambda saved: json.dumps({"files": saved["files"]}),
], ids=["not-json", "not-a-dict", "no-files", "no-key"])
def test_an_unreadable_or_incomplete_stamp_runs_them_again(scene, stamp):
    start.run_prepare(scene.ctx, scene.plan)
    path = scene.root / start.PREPARED
    path.write_text(stamp(json.loads(path.read_text())))
    start.run_prepare(scene.ctx, scene.plan)
    assert scene.runs() == 2


def test_without_a_server_root_they_run_at_every_start(scene):
    scene.plan = dataclasses.replace(scene.plan, server_root=None)
    start.run_prepare(scene.ctx, scene.plan)
    start.run_prepare(scene.ctx, scene.plan)
    assert scene.runs() == 2


def test_a_plan_without_set_up_commands_runs_nothing_and_writes_no_stamp(scene):
    scene.plan = dataclasses.replace(scene.plan, prepare=())
    start.run_prepare(scene.ctx, scene.plan)
    assert scene.runs() == 0
    assert not (scene.root / start.PREPARED).exists()


# ---------------------------------------------------------------- the stamp's files


@pytest.mark.parametrize("text, saved", [
    (None, {}),
    ("", {}),
    ("{not json", {}),
    ("[1, 2]", {}),
    ('"key"', {}),
    ('{"key": "k", "files": {"a": [1, 2]}}', {"key": "k", "files": {"a": [1, 2]}}),
])
def test_a_stamp_is_read_as_a_dict_or_nothing(tmp_path, text, saved):
    path = tmp_path / start.PREPARED
    if text is not None:
        path.write_text(text)
    assert read_json_dict(path) == saved


def test_write_stamp_replaces_the_stamp_whole(tmp_path):
    path = tmp_path / start.PREPARED
    path.write_text("old")
    start.write_stamp(path, {"key": "k", "files": {}})
    assert read_json_dict(path) == {"key": "k", "files": {}}
    assert os.listdir(tmp_path) == [start.PREPARED]  # no temporary file is left


def test_a_stamp_that_cannot_be_written_is_no_error(tmp_path):
    start.write_stamp(tmp_path / "missing" / start.PREPARED, {"key": "k"})
    assert not (tmp_path / "missing").exists()


def test_scan_written_lists_the_regular_files_of_the_root_but_the_stamp(tmp_path):
    (tmp_path / "httpd.conf").write_text("12345")
    (tmp_path / start.PREPARED).write_text("{}")
    (tmp_path / "htdocs").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "httpd.conf")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.utime(tmp_path / "httpd.conf", ns=(5, 7))
    assert start.scan_written(tmp_path) == {"httpd.conf": [5, 7], "link": [5, 7]}


def test_scan_written_of_named_files_leaves_the_missing_out(tmp_path):
    (tmp_path / "httpd.conf").write_text("12345")
    (tmp_path / "other").write_text("1")
    os.utime(tmp_path / "httpd.conf", ns=(5, 7))
    assert start.scan_written(tmp_path, ["httpd.conf", "envvars"]) == {"httpd.conf": [5, 7]}
    assert start.scan_written(tmp_path / "missing") == {}


# ---------------------------------------------------------------- what a start says and watches


@pytest.mark.parametrize("mode, script, app_py, code, message", [
    ("python", "app.py", "application = make_app()\n", 0,
     ("app.py exited (code 0) before anything listened on port 8080; it defines 'application': to serve it with a "
      "production server, run `warp start --app app:application`")),
    ("python", "app.py", "async def app(scope, receive, send):\n    pass\n", 1,
     ("app.py exited (code 1) before anything listened on port 8080; it defines 'app': to serve it with a "
      "production server, run `warp start --app app:app`")),
    ("python", "app.py", "print('hello')\n", -9, "app.py exited (code 137) before anything listened on port 8080"),
    # app.sh is no WSGI module, whatever app.py beside it defines
    ("shell", "app.sh", "application = make_app()\n", 2, "app.sh exited (code 2) before anything listened on port 8080"),
])
def test_an_entry_point_that_exits_before_listening_is_described(tmp_path, mode, script, app_py, code, message):
    (tmp_path / "app.py").write_text(app_py)
    plan = SimpleNamespace(argv=("/bin/sh" if mode == "shell" else "/env/bin/python", str(tmp_path / script)), port=8080, mode=mode, cwd=tmp_path)
    assert start.describe_early_exit(plan, code) == message


def test_a_missing_module_defines_no_callable(tmp_path):
    assert start.find_module_callable(tmp_path / "app.py") is None


@pytest.mark.parametrize("server", ["gunicorn", "mod_wsgi"])
def test_only_the_chosen_server_is_asked_which_user_it_runs_as(tmp_path, server):
    """As root, with no account Apache may run as: gunicorn plans as usual; only mod_wsgi, which needs one, says so."""
    project = Project(tmp_path)
    facts = scan_project(project.root)
    environ = {"PATH": os.environ["PATH"], "WARP_APACHE_USER": "no-such-account-xyz"}
    settings = find_settings({"server": server}, environ, facts.warp_files, facts.tool)
    root = project.context().machine._replace(euid=0)
    ctx = Context(environ, tmp_path / "home", project.env, facts.root, facts, settings, scan_app(facts.root, ""), root)
    if server == "mod_wsgi":
        with pytest.raises(UsageError, match="Apache refuses to run as root and no unprivileged account was found"):
            start.scan_start_plan(ctx)
    else:
        assert start.scan_start_plan(ctx).run_user is None

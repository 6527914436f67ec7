"""The kept wheels of compiled servers (warp.env.wheelstore), and how a long step shows that it is working."""

from __future__ import annotations

import io
import re
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

from warp import cli
from warp.env import wheelstore
from warp.report import working
from warp.servers.mod_wsgi import find_apxs

PYTHON = {"python": "/usr/bin/python3.11", "python_stamp": [100, 1], "version": "3.11.2", "soabi": "cpython-311-x86_64-linux-gnu",
          "libpython": "/usr/lib/x86_64-linux-gnu/libpython3.11.so", "libpython_stamp": None}
FACTS = {"package": "uwsgi", "python": PYTHON, "variables": {}, "server": {}}


@pytest.mark.parametrize(
    "line, package, found",
    [
        ("  Downloading uwsgi-2.0.31.tar.gz (822 kB)", "uwsgi", ("2.0.31", "sdist")),
        ("Processing ./.warp/wheelhouse/uwsgi-2.0.31.tar.gz", "uwsgi", ("2.0.31", "sdist")),
        ("Processing /home/me/.warp/wheels/uwsgi-0a1b/uwsgi-2.0.31-cp311-cp311-linux_x86_64.whl", "uwsgi", ("2.0.31", "wheel")),
        ("  Downloading mod_wsgi-5.0.2.tar.gz (497 kB)", "mod-wsgi", ("5.0.2", "sdist")),
        ("  Downloading mod-wsgi-5.0.2.zip", "mod-wsgi", ("5.0.2", "sdist")),
        ("  Downloading pyuwsgi-2.0.31.tar.gz", "uwsgi", None),
        ("  Downloading mod_wsgi_httpd-2.4.62.tar.gz", "mod-wsgi", None),
        ("Collecting uwsgi==2.0.31", "uwsgi", None),
        ("Building wheel for uwsgi (setup.py): started", "uwsgi", None),
    ],
)
def test_find_distribution_file_reads_the_version_and_kind_from_pips_lines(line, package, found):
    assert wheelstore.find_distribution_file(line, package) == found


@pytest.mark.parametrize(
    "change",
    [
        {"python": {**PYTHON, "python": "/root/.pyenv/versions/3.11.7/bin/python3.11", "version": "3.11.7"}},
        {"python": {**PYTHON, "python_stamp": [100, 2]}},  # the same path, rebuilt in place
        {"python": {**PYTHON, "libpython_stamp": [5, 5]}},
        {"variables": {"CFLAGS": "-O0"}},
        {"server": {"apxs": "/opt/httpd/bin/apxs", "apxs_sha256": "ab", "apache": "cd"}},
        {"package": "mod-wsgi"},
    ],
)
def test_any_build_fact_that_differs_gives_another_store(change, tmp_path):
    assert wheelstore.find_store_dir(tmp_path, "uwsgi", {**FACTS, **change}) != wheelstore.find_store_dir(tmp_path, "uwsgi", FACTS)


def test_the_same_facts_in_any_order_give_the_same_store(tmp_path):
    shuffled = {key: FACTS[key] for key in reversed(list(FACTS))}
    assert wheelstore.find_store_dir(tmp_path, "uwsgi", shuffled) == wheelstore.find_store_dir(tmp_path, "uwsgi", FACTS)


def test_find_build_variables_takes_the_compilers_and_the_servers_own():
    environ = {"CC": "clang", "CFLAGS": "-O2", "UWSGI_PROFILE": "core", "PATH": "/bin", "HOME": "/root", "LDFLAGS": ""}
    assert wheelstore.find_build_variables(environ, ("UWSGI_",)) == {"CC": "clang", "CFLAGS": "-O2", "LDFLAGS": "", "UWSGI_PROFILE": "core"}


def test_find_kept_wheel_matches_the_name_and_version_exactly(tmp_path):
    for name in ("mod_wsgi-5.0.1-cp311-cp311-linux_x86_64.whl", "mod_wsgi-5.0.2-cp311-cp311-linux_x86_64.whl", "uwsgi-5.0.2-cp311-cp311-linux_x86_64.whl"):
        (tmp_path / name).touch()
    assert wheelstore.find_kept_wheel(tmp_path, "mod-wsgi", "5.0.2") == tmp_path / "mod_wsgi-5.0.2-cp311-cp311-linux_x86_64.whl"
    assert wheelstore.find_kept_wheel(tmp_path, "mod-wsgi", "5.0") is None
    assert wheelstore.find_kept_wheel(tmp_path, "mod-wsgi", None) is None


def test_find_apxs_looks_where_mod_wsgis_setup_looks(tmp_path):
    for name in ("apxs", "apxs2"):
        (tmp_path / "bin").mkdir(exist_ok=True)
        (tmp_path / "bin" / name).touch()
    path = str(tmp_path / "bin")
    assert find_apxs({"PATH": path}) == str(tmp_path / "bin" / "apxs2")
    assert find_apxs({"PATH": path, "APXS": "apxs"}) == str(tmp_path / "bin" / "apxs")
    assert find_apxs({"PATH": "/nonexistent", "APXS": str(tmp_path / "bin" / "apxs")}) == str(tmp_path / "bin" / "apxs")


# ---------------------------------------------------------------- a long step, shown while it runs


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_working(monkeypatch, stream: io.StringIO, *, fail: bool = False) -> str:
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(cli, "_quiet", False)
    reporter = cli.Reporter()
    with pytest.raises(RuntimeError) if fail else nullcontext():
        with working(reporter, "        compiling uWSGI 2.0.31", "        compiled uWSGI 2.0.31 in {seconds:.1f} s"):
            time.sleep(0.6)
            if fail:
                raise RuntimeError("the compiler failed")
    return stream.getvalue()


def test_in_a_log_a_long_step_is_two_plain_lines(monkeypatch):
    out = run_working(monkeypatch, io.StringIO())
    assert "\r" not in out and "\033" not in out
    assert re.fullmatch(r"        compiling uWSGI 2\.0\.31\n        compiled uWSGI 2\.0\.31 in \d+\.\d s\n", out)


def test_on_a_terminal_a_long_step_spins_with_its_seconds_then_says_it_finished(monkeypatch):
    out = run_working(monkeypatch, Terminal())
    frames = out.split("\r")[1:]
    assert len(frames) >= 3  # redrawn while it runs
    assert all(re.fullmatch(r"        compiling uWSGI 2\.0\.31 [|/\\-] \d+ s\033\[K", frame) for frame in frames[:-1]), frames
    assert len({frame.split()[-3] for frame in frames[:-1]}) > 1  # the spinner turns
    assert re.fullmatch(r"        compiled uWSGI 2\.0\.31 in \d+\.\d s\033\[K\n", frames[-1])


def test_on_a_terminal_a_failed_step_stays_named_without_finished(monkeypatch):
    out = run_working(monkeypatch, Terminal(), fail=True)
    assert out.split("\r")[-1] == "        compiling uWSGI 2.0.31\033[K\n"
    assert "compiled" not in out


def test_a_plain_report_gets_the_two_lines():
    lines: list[str] = []
    with working(lines.append, "        compiling mod_wsgi 5.0.2", "        compiled in {seconds:.0f} s"):
        pass
    assert lines == ["        compiling mod_wsgi 5.0.2", "        compiled in 0 s"]


def test_quiet_shows_no_progress(monkeypatch):
    monkeypatch.setattr(cli, "_quiet", True)
    stream = Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    with working(cli.Reporter(), "        compiling", "        compiled"):
        pass
    assert stream.getvalue() == ""


def test_paths_are_kept_under_warp_home(tmp_path):
    assert wheelstore.find_store_dir(tmp_path, "uwsgi", FACTS).parent == tmp_path / "wheels"
    assert Path(wheelstore.find_store_dir(tmp_path, "uwsgi", FACTS)).name.startswith("uwsgi-")


# ---------------------------------------------------------------- a compiled server named among the dependencies


def test_scan_requirement_lines_follows_included_files_and_drops_comments_and_options(tmp_path):
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements.txt").write_text("# the app\nFlask>=3  # web\n--index-url https://example.org/simple\n-r requirements/base.txt\n")
    (tmp_path / "requirements" / "base.txt").write_text("uWSGI==2.0.31 --hash=sha256:abc\n-r ../requirements.txt\n")
    lines = wheelstore.scan_requirement_lines(tmp_path, ("uv", "pip", "install", "-r", "requirements.txt"))
    assert sorted(lines) == ["Flask>=3", "uWSGI==2.0.31 --hash=sha256:abc"]
    assert wheelstore.find_requirement_line(lines, "uwsgi") == "uWSGI==2.0.31"
    assert wheelstore.find_requirement_line(lines, "mod-wsgi") is None


@pytest.mark.parametrize(
    "line, package, found",
    [
        ("mod_wsgi>=5 ; sys_platform == 'linux'", "mod-wsgi", "mod_wsgi>=5 ; sys_platform == 'linux'"),
        ("pyuwsgi", "uwsgi", None),
        ("uwsgitop", "uwsgi", None),
        ("UWSGI", "uwsgi", "UWSGI"),
    ],
)
def test_find_requirement_line_matches_the_normalized_name_only(line, package, found):
    assert wheelstore.find_requirement_line([line], package) == found


def test_a_step_shown_only_live_leaves_no_line_in_a_log(monkeypatch):
    monkeypatch.setattr(cli, "_quiet", False)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    with working(cli.Reporter(), "        uv is installing the dependencies"):
        time.sleep(0.2)
    assert stream.getvalue() == ""


def test_on_a_terminal_a_step_shown_only_live_appears_after_its_delay_and_goes_when_it_ends(monkeypatch):
    monkeypatch.setattr(cli, "_quiet", False)
    quick, slow = Terminal(), Terminal()
    monkeypatch.setattr("sys.stderr", quick)
    with working(cli.Reporter(), "        uv is installing the dependencies", after=0.5):
        pass
    assert quick.getvalue() == ""
    monkeypatch.setattr("sys.stderr", slow)
    with working(cli.Reporter(), "        uv is installing the dependencies", after=0.2):
        time.sleep(0.7)
    frames = slow.getvalue().split("\r")[1:]
    assert len(frames) >= 2 and all(frame.startswith("        uv is installing the dependencies ") for frame in frames[:-1])
    assert frames[-1] == "\033[K"  # the line is cleared for the next step's

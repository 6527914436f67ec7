"""The kept wheels of compiled servers (warp.env.wheelstore)."""

from __future__ import annotations

from pathlib import Path

import pytest

from warp.env import wheelstore
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

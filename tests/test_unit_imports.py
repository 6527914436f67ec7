"""What the everyday commands import: `warp --version`, `list` and `activate` run in shells' start-up files, and
every module they import is paid on each new shell (the CLI latency rows in docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from warp import deploy, servers

LOADED = """
import json, sys
from warp.__main__ import main
sys.argv = ["warp", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(name for name in sys.modules if name.startswith("warp"))), file=sys.stderr)
"""


def loaded_by(tmp_path, *args: str) -> set[str]:
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-c", LOADED, *args], cwd=tmp_path, capture_output=True, text=True, check=True,
        env=dict(os.environ, WARP_HOME=str(home)),
    )
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_version_imports_nothing_but_the_package(tmp_path):
    assert loaded_by(tmp_path, "--version") == {"warp", "warp.__main__"}


def test_list_imports_no_adapter_and_no_project_scan(tmp_path):
    loaded = loaded_by(tmp_path, "list")
    assert "warp.cli" in loaded
    assert not loaded & {"warp.servers.base", "warp.servers.gunicorn", "warp.context", "warp.plan", "warp.config.project"}, loaded


def test_activate_of_an_existing_env_skips_the_project_machinery(tmp_path):
    (tmp_path / "site").mkdir()
    site = tmp_path / "site"
    first = subprocess.run([sys.executable, "-m", "warp", "activate"], cwd=site, capture_output=True, text=True,
                           env=dict(os.environ, WARP_HOME=str(tmp_path / "home")))
    assert first.returncode == 0, first.stderr
    result = subprocess.run(
        [sys.executable, "-c", LOADED, "activate"], cwd=site, capture_output=True, text=True, check=True,
        env=dict(os.environ, WARP_HOME=str(tmp_path / "home")),
    )
    assert "VIRTUAL_ENV" in result.stdout
    loaded = set(json.loads(result.stderr.strip().splitlines()[-1]))
    assert not loaded & {"warp.context", "warp.plan", "warp.env.pythons", "warp.servers.base"}, loaded


def test_the_registry_names_are_the_adapters_names():
    assert servers.NAMES == tuple(adapter.name for adapter in servers.ADAPTERS.values())
    assert all(servers.find_adapter(name).name == name for name in servers.NAMES)


def test_the_export_registry_names_target_modules_it_imports_only_when_asked(tmp_path):
    """`warp export --help` and `warp list` name no target's module; each registered one renders and says where it runs."""
    for args in (("export", "--help"), ("list",)):
        loaded = loaded_by(tmp_path, *args)
        assert not {name for name in loaded if name.startswith("warp.deploy.")}, loaded
    for name in deploy.NAMES:
        target = deploy.find_target(name)
        assert callable(target.render) and isinstance(target.PLATFORM, bool), name


def test_socket_help_names_each_server_by_what_it_speaks_on_a_unix_socket():
    for adapter in servers.ADAPTERS.values():
        if adapter.unix_protocol is None:
            assert f"not {adapter.name}" in servers.SOCKET_HELP or f"or {adapter.name}" in servers.SOCKET_HELP, adapter.name
        elif adapter.unix_protocol != "http":
            assert f"{adapter.name}: the {adapter.unix_protocol} protocol" in servers.SOCKET_HELP


def test_the_warp_command_is_the_entry_that_can_replay_a_start():
    """`warp` (the installed script) runs warp.__main__:main, which tries the replay before it imports click."""
    import importlib.metadata

    scripts = {entry.name: entry.value for entry in importlib.metadata.entry_points(group="console_scripts") if entry.name == "warp"}
    assert scripts == {"warp": "warp.__main__:main"}

"""Usable CPUs and memory from cgroup v2 / v1 files, in fake trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warp.config.machine import is_container, scan_usable_cpus, scan_usable_memory

AFFINITY = len(os.sched_getaffinity(0))


def make_tree(tmp_path, files: dict[str, str], cgroup_line: str = "0::/app"):
    sys_fs = tmp_path / "cgroup"
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(cgroup_line + "\n")
    (proc / "meminfo").write_text("MemTotal:       25165824 kB\n")
    for name, content in files.items():
        path = sys_fs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (sys_fs / "app").mkdir(parents=True, exist_ok=True)
    return sys_fs, proc


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"app/cpu.max": "max 100000\n"}, AFFINITY),
        ({"app/cpu.max": "50000 100000\n"}, 1.0),  # half a CPU counts as one
        ({"app/cpu.max": "100000 100000\n"}, min(AFFINITY, 1.0)),
        ({"cpu/cpu.cfs_quota_us": "150000\n", "cpu/cpu.cfs_period_us": "100000\n"}, min(AFFINITY, 1.5)),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, AFFINITY),
    ],
    ids=["v2-unlimited", "v2-half", "v2-one", "v1-one-and-a-half", "v1-unlimited"],
)
def test_usable_cpus_respect_quotas(tmp_path, files, expected):
    sys_fs, proc = make_tree(tmp_path, files, "0::/app" if any(k.startswith("app/") for k in files) else "1:cpu:/")
    assert scan_usable_cpus(sys_fs, proc) == expected


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"app/memory.max": "536870912\n"}, 512 << 20),
        ({"app/memory.max": "max\n"}, 25165824 * 1024),
        ({"memory/memory.limit_in_bytes": "1073741824\n"}, 1 << 30),
        ({"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 25165824 * 1024),  # v1 "unlimited"
    ],
    ids=["v2-limit", "v2-max", "v1-limit", "v1-unlimited"],
)
def test_usable_memory_respects_limits(tmp_path, files, expected):
    sys_fs, proc = make_tree(tmp_path, files)
    assert scan_usable_memory(sys_fs, proc) == expected


def test_container_detection(tmp_path):
    assert not is_container({}, tmp_path)
    assert is_container({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".containerenv").touch()
    assert is_container({}, tmp_path)


def test_every_package_of_warp_is_in_the_distribution():
    """An editable install finds every package; a wheel only those setup.cfg lists."""
    import configparser

    root = Path(__file__).resolve().parents[1]
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    listed = {name.strip() for name in config["options"]["packages"].split(",")}
    found = {".".join(path.parent.relative_to(root).parts) for path in (root / "warp").rglob("__init__.py")}
    assert found <= listed, found - listed

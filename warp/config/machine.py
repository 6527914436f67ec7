"""Facts about the machine warp runs on: usable CPUs and memory, container, user.

Read once at the edge (``scan_machine``) and handed to the planner as data.
"""

from __future__ import annotations

import math
import os
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time: see the module's docstring
    from typing import Mapping

#: cpus (float), memory_bytes (int or None), in_container, euid.
MachineFacts = namedtuple("MachineFacts", "cpus memory_bytes in_container euid")


def scan_machine(environ: Mapping[str, str], proc: str = "/proc", sys_fs: str = "/sys/fs/cgroup") -> MachineFacts:
    return MachineFacts(
        cpus=scan_usable_cpus(sys_fs, proc),
        memory_bytes=scan_usable_memory(sys_fs, proc),
        in_container=is_container(environ),
        euid=os.geteuid(),
    )


def is_container(environ: Mapping[str, str], root: str = "/") -> bool:
    return (
        os.path.exists(os.path.join(root, ".dockerenv"))
        or os.path.exists(os.path.join(root, "run/.containerenv"))
        or bool(environ.get("KUBERNETES_SERVICE_HOST"))
    )


def scan_usable_cpus(sys_fs: str, proc: str) -> float:
    """CPUs this process may really use: affinity (cpuset) capped by a CFS quota."""
    try:
        count: float = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota(sys_fs, proc)
    if quota is not None:
        count = min(count, quota)
    return max(count, 1.0)


def scan_usable_memory(sys_fs: str, proc: str) -> int | None:
    limits = []
    group = _cgroup_v2_path(sys_fs, proc)
    if group is not None:
        limits.append(_read_number(os.path.join(group, "memory.max")))
    limits.append(_read_number(os.path.join(sys_fs, "memory", "memory.limit_in_bytes")))
    total = _meminfo_total(proc)
    limits.append(total)
    known = [value for value in limits if value and value < (1 << 60)]
    return min(known) if known else None


def _cgroup_cpu_quota(sys_fs: str, proc: str) -> float | None:
    group = _cgroup_v2_path(sys_fs, proc)
    if group is not None:
        try:
            quota, period = _read_text(os.path.join(group, "cpu.max")).split()[:2]
            if quota != "max":
                return max(int(quota) / int(period), 1.0)
        except (OSError, ValueError):
            pass
    quota_us = _read_number(os.path.join(sys_fs, "cpu", "cpu.cfs_quota_us")) or _read_number(os.path.join(sys_fs, "cpu,cpuacct", "cpu.cfs_quota_us"))
    period_us = _read_number(os.path.join(sys_fs, "cpu", "cpu.cfs_period_us")) or _read_number(os.path.join(sys_fs, "cpu,cpuacct", "cpu.cfs_period_us"))
    if quota_us and quota_us > 0 and period_us:
        return max(math.ceil(quota_us / period_us * 10) / 10, 1.0)
    return None


def _cgroup_v2_path(sys_fs: str, proc: str) -> str | None:
    try:
        for line in _read_text(os.path.join(proc, "self", "cgroup")).splitlines():
            if line.startswith("0::"):
                path = os.path.join(sys_fs, line[3:].lstrip("/"))
                return path if os.path.isdir(path) else sys_fs
    except OSError:
        pass
    return None


def _read_text(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _read_number(path: str) -> int | None:
    try:
        text = _read_text(path).strip()
    except OSError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def _meminfo_total(proc: str) -> int | None:
    try:
        for line in _read_text(os.path.join(proc, "meminfo")).splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None

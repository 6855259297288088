"""What this machine offers a process: its memory and CPUs, container limits included."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _cgroup_number(path: Path) -> int | None:
    """The first number in a cgroup file, None when the file is absent or says 'max' (no limit)."""
    try:
        text = path.read_text(encoding="ascii").split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None


def machine_memory_bytes(cgroup: Path = CGROUP) -> int:
    """Physical memory in bytes, or the container's memory limit (cgroup v2 or v1) when it is lower."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limits = [_cgroup_number(cgroup / "memory.max"), _cgroup_number(cgroup / "memory" / "memory.limit_in_bytes")]
    return min([physical, *(limit for limit in limits if limit)])


def usable_cpus(cgroup: Path = CGROUP) -> int:
    """CPUs this process may run on (its affinity), fewer when a cgroup CPU quota allows less."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = (cgroup / "cpu.max").read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota.isdigit() and period.isdigit() and int(period) > 0:
        return max(1, min(cpus, math.ceil(int(quota) / int(period))))
    return cpus

"""What this machine offers a process (its memory and CPUs, container limits included), and how a child process
ended."""

from __future__ import annotations

import ctypes
import math
import os
import signal
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


def exit_reason(code: int | None) -> str:
    """How a child process ended, from its exit code: 'exit code N', or 'killed by signal N' (with 'out of
    memory?' for SIGKILL, what the kernel sends when memory runs out)."""
    if code is None or code >= 0:
        return f"exit code {code}"
    return f"killed by signal {-code}{': out of memory?' if code == -signal.SIGKILL else ''}"


PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when the thread that forked it ends


def end_with_parent(parent: int) -> None:
    """In a forked child of process `parent`: be killed (SIGKILL) when the thread that forked it ends (Linux), or
    end now if `parent` is already gone; elsewhere nothing (the child ends when it fails to reach its parent)."""
    try:
        set_death_signal = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    if set_death_signal(PR_SET_PDEATHSIG, signal.SIGKILL) == 0 and os.getppid() != parent:
        os._exit(1)

"""Size CPU thread pools to the cores this worker is given, not to the cores of the machine.

A worker in a container or under a CPU affinity mask sees every core of the host in `os.cpu_count()`; torch, OpenMP
and MKL then start one thread per host core and the worker spends its time switching between them.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from knowrl.errors import ConfigError

ENV_VAR = "KNOWRL_NUM_THREADS"
CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _affinity_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def cgroup_cpu_limit() -> int | None:
    """The cgroup's CPU quota in whole cores (rounded up), or None when there is none or it cannot be read."""
    try:
        quota, period = CGROUP_V2_CPU_MAX.read_text().split()[:2]
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(CGROUP_V1_QUOTA.read_text())
        period_us = int(CGROUP_V1_PERIOD.read_text())
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None


def available_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by its cgroup's CPU quota."""
    cores = _affinity_cores()
    limit = cgroup_cpu_limit()
    return max(1, min(cores, limit) if limit else cores)


def configure_threads(n: int | None = None) -> int:
    """Set the thread count of OpenMP/MKL (when not set already) and of torch (when imported); return it.

    `n`, else $KNOWRL_NUM_THREADS, else the cores this worker is given."""
    if n is None:
        value = os.environ.get(ENV_VAR, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                n = 0
            if n < 1:
                raise ConfigError(f"{ENV_VAR}={value!r} is not a positive whole number: set it to e.g. 4, or unset it")
        else:
            n = available_cores()
    if n < 1:
        raise ConfigError(f"configure_threads(n={n}): the thread count must be at least 1")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(n))
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(n)
    return n

"""Sizing and feeding worker pools: the cores this process may use, and an in-order map with a bounded number
of tasks in flight, so reading ahead never holds more than a window of records in memory whatever the data size."""
from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def cpu_cores() -> int:
    """Cores this process may use: its CPU set (not the host's count), further capped by a cgroup CPU quota
    (`docker run --cpus N`), so torch never starts more busy threads than it is given time for."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs granted by the CFS quota (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`);
    None when there is no quota or no cgroup filesystem."""
    try:
        if (root / "cpu.max").is_file():
            quota, period = (root / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        if (root / "cpu" / "cpu.cfs_quota_us").is_file():
            quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
            period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
            return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None
    return None


def read_ahead(pool: Executor, fn: Callable[[Item], Result], items: Iterable[Item], window: int
               ) -> Iterator[tuple[Item, Future[Result]]]:
    """(item, future of fn(item)) in the items' order, with at most `window` tasks submitted ahead of the consumer."""
    pending: deque = deque()
    for item in items:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= window:
            yield pending.popleft()
    yield from pending

"""The core count that sizes thread pools, and the bounded in-order read-ahead."""
import threading
from concurrent.futures import ThreadPoolExecutor

from team_code.data import workers


def test_cgroup_quota_v2_and_v1(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert workers.cgroup_cpu_quota(v2) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert workers.cgroup_cpu_quota(v2) is None
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert workers.cgroup_cpu_quota(tmp_path / "v1") == 2.0
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert workers.cgroup_cpu_quota(tmp_path / "v1") is None
    assert workers.cgroup_cpu_quota(tmp_path / "absent") is None


def test_cpu_cores_is_capped_by_the_quota(monkeypatch):
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setattr(workers, "cgroup_cpu_quota", lambda: 2.5)
    assert workers.cpu_cores() == 3
    monkeypatch.setattr(workers, "cgroup_cpu_quota", lambda: None)
    assert workers.cpu_cores() == 16
    monkeypatch.setattr(workers, "cgroup_cpu_quota", lambda: 0.2)
    assert workers.cpu_cores() == 1


def test_read_ahead_keeps_order_and_bounds_the_tasks_in_flight():
    lock, started, peak, consumed = threading.Lock(), [0], [0], [0]

    def work(i: int) -> int:
        with lock:
            started[0] += 1
            peak[0] = max(peak[0], started[0] - consumed[0])
        return i * i

    out = []
    with ThreadPoolExecutor(4) as pool:
        for item, future in workers.read_ahead(pool, work, range(100), window=5):
            out.append((item, future.result()))
            consumed[0] += 1
    assert out == [(i, i * i) for i in range(100)]
    assert peak[0] <= 5  # never more than the window submitted beyond what the consumer has taken

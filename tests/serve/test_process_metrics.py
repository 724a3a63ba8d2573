"""CPU and memory of a whole server (main process + workers), and the limits it runs under."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from tests.baton_cli import free_port
from tests.handover_factory import write_handover

from baton.config import Settings
from baton.handover.register import register_handover
from baton.serve.process_metrics import (
    ServerProcessCollector,
    read_gpus,
    read_limits,
    tree,
    tree_usage,
)
from baton.store.store import open_store

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def fake_process(
    proc: Path,
    pid: int,
    ppid: int,
    ticks: tuple[int, int, int, int],
    pages: int,
    *,
    children: list[int] | None = None,
) -> None:
    """A /proc/PID entry as the kernel writes it (a command name with spaces and parens)."""
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    utime, stime, cutime, cstime = ticks
    fields = [
        "S", ppid, pid, pid, 0, -1, 0, 10, 0, 0, 0, utime, stime, cutime, cstime, 20, 0, 1, 0,
    ]  # fmt: skip
    (folder / "stat").write_text(f"{pid} (baton (serve) x) " + " ".join(map(str, fields)) + "\n")
    (folder / "statm").write_text(f"1000 {pages} 50 1 0 200 0\n")
    if children is not None:
        (folder / "task" / str(pid)).mkdir(parents=True)
        (folder / "task" / str(pid) / "children").write_text(" ".join(map(str, children)) + " ")
        (folder / "task" / str(pid + 1000)).mkdir()  # a second thread, with one more child
        (folder / "task" / str(pid + 1000) / "children").write_text("")


@pytest.fixture(params=["children files", "scan"])
def fake_proc(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Server 100 with workers 101 and 102 (which has a child 103); 200 is unrelated."""
    proc = tmp_path / "proc"
    files = request.param == "children files"
    fake_process(proc, 100, 1, (100, 50, 30, 20), 1000, children=[101, 102] if files else None)
    fake_process(proc, 101, 100, (400, 100, 0, 0), 3000, children=[] if files else None)
    fake_process(proc, 102, 100, (200, 100, 0, 0), 3000, children=[103] if files else None)
    fake_process(proc, 103, 102, (10, 0, 0, 0), 100, children=[] if files else None)
    fake_process(proc, 200, 1, (9999, 9999, 0, 0), 9999, children=[] if files else None)
    return proc


def test_the_tree_is_the_server_and_everything_under_it(fake_proc: Path) -> None:
    assert sorted(tree(100, fake_proc)) == [100, 101, 102, 103]
    assert tree(100, fake_proc)[0] == 100
    assert tree(103, fake_proc) == [103]


def test_usage_sums_cpu_with_reaped_children_and_resident_memory(fake_proc: Path) -> None:
    usage = tree_usage(100, fake_proc)
    assert usage.processes == 4
    assert usage.cpu_seconds == pytest.approx((200 + 500 + 300 + 10) / TICKS)
    assert usage.resident_bytes == (1000 + 3000 + 3000 + 100) * PAGE


def test_the_collector_reports_the_standard_names(fake_proc: Path) -> None:
    registry = CollectorRegistry()
    registry.register(ServerProcessCollector(100, fake_proc))
    text = generate_latest(registry).decode()
    assert "# TYPE process_cpu_seconds_total counter" in text
    assert _value(text, "process_cpu_seconds_total") == pytest.approx(1010 / TICKS)
    assert _value(text, "process_resident_memory_bytes") == 7100 * PAGE


def test_a_gone_server_reports_nothing(fake_proc: Path) -> None:
    registry = CollectorRegistry()
    registry.register(ServerProcessCollector(4321, fake_proc))
    assert "process_" not in generate_latest(registry).decode()


def test_the_real_process_tree_includes_a_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert child.pid in tree(os.getpid())
        own = os.times()  # read first: the tree's CPU only grows after it
        usage = tree_usage(os.getpid())
        assert usage.processes >= 2
        spent = own.user + own.system + own.children_user + own.children_system
        assert usage.cpu_seconds >= spent - 0.05  # itself, its reaped children, live ones
        assert usage.resident_bytes > 0
    finally:
        child.kill()
        child.wait()


def cgroup_v2(tmp_path: Path, path: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(f"0::{path}\n")
    return root, proc


def test_cgroup_v2_limits_are_the_tightest_along_the_path(tmp_path: Path) -> None:
    root, proc = cgroup_v2(
        tmp_path,
        "/kubepods/pod1/ctr",
        {
            "kubepods/pod1/cpu.max": "250000 100000",
            "kubepods/pod1/ctr/cpu.max": "max 100000",
            "kubepods/pod1/memory.max": "max",
            "kubepods/pod1/ctr/memory.max": str(512 * 2**20),
            "kubepods/cpu.max": "400000 100000",
        },
    )
    limits = read_limits(root, proc)
    assert limits.cpu_limit == 2.5
    assert limits.memory_limit_bytes == 512 * 2**20
    assert limits.cpu_affinity == tuple(sorted(os.sched_getaffinity(0)))
    assert limits.memory_total_bytes == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_no_cgroup_limits_read_as_none(tmp_path: Path) -> None:
    root, proc = cgroup_v2(tmp_path, "/", {"cpu.max": "max 100000", "memory.max": "max"})
    limits = read_limits(root, proc)
    assert (limits.cpu_limit, limits.memory_limit_bytes) == (None, None)
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert read_limits(empty, empty).cpu_limit is None


def test_a_memory_limit_above_the_machines_ram_is_no_limit(tmp_path: Path) -> None:
    root, proc = cgroup_v2(tmp_path, "/", {"memory.max": str(2**62), "cpu.max": "garbage"})
    limits = read_limits(root, proc)
    assert (limits.cpu_limit, limits.memory_limit_bytes) == (None, None)


def test_cgroup_v1_quota_and_memory_limit(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    (root / "cpu" / "docker" / "abc").mkdir(parents=True)
    (root / "memory" / "docker" / "abc").mkdir(parents=True)
    (root / "cpu" / "docker" / "abc" / "cpu.cfs_quota_us").write_text("150000\n")
    (root / "cpu" / "docker" / "abc" / "cpu.cfs_period_us").write_text("100000\n")
    (root / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (root / "memory" / "docker" / "abc" / "memory.limit_in_bytes").write_text(f"{2**30}\n")
    (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text("4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/\n")
    limits = read_limits(root, proc)
    assert limits.cpu_limit == 1.5
    assert limits.memory_limit_bytes == 2**30


def test_this_machine_reads_without_error() -> None:
    limits = read_limits()
    assert limits.cpu_affinity
    assert limits.memory_total_bytes > 0
    assert limits.cpu_limit is None or limits.cpu_limit > 0


# -- a real `baton serve --workers 2` ---------------------------------------------------


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    home = tmp_path / "home"
    store = open_store(Settings(home=home, user="tester"))
    register_handover(store, write_handover(tmp_path / "toy"), actor="tester")
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(BATON_HOME=str(home), BATON_USER="tester")
    port = free_port()
    cmd = [sys.executable, "-m", "baton.cli.main", "serve", "toy", "--workers", "2"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "baton serve did not become ready"
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _value(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} missing from /metrics"
    return float(found[1])


def _resident(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_workers_report_the_whole_servers_cpu_and_memory(
    two_workers: tuple[subprocess.Popen[bytes], str],
) -> None:
    proc, url = two_workers
    before = httpx.get(f"{url}/metrics", timeout=10).text
    cpu_before = _value(before, "process_cpu_seconds_total")
    body = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]
    }
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(300):
            assert client.post("/v2/models/toy/infer", json=body).status_code == 200
    after = httpx.get(f"{url}/metrics", timeout=10).text
    assert _value(after, "process_cpu_seconds_total") > cpu_before
    resident = _value(after, "process_resident_memory_bytes")
    workers = _children(proc.pid)
    assert len(workers) >= 2
    # more than the main process alone: the workers (each with the model loaded) count
    assert resident > _resident(proc.pid) + max(_resident(w) for w in workers)
    everything = _resident(proc.pid) + sum(_resident(w) for w in workers)
    assert resident == pytest.approx(everything, rel=0.25)


class _Nvml:
    """NVML's calls as ``read_gpus`` makes them, for a machine with ``n`` T4s."""

    def __init__(self, n: int) -> None:
        self.n = n

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802  (NVML's names)
        return self.n

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:  # noqa: N802
        if i >= self.n:
            raise RuntimeError("NVML_ERROR_INVALID_ARGUMENT")
        return i

    def nvmlDeviceGetName(self, handle: int) -> bytes:  # noqa: N802
        return b"Tesla T4"


def test_read_gpus_counts_what_the_runtime_may_use(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert read_gpus(_Nvml(4)) == (4, "Tesla T4")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert read_gpus(_Nvml(4)) == (2, "Tesla T4")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert read_gpus(_Nvml(4)) == (0, None)
    assert "NVML failed" not in caplog.text
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")  # beyond what NVML lists: no crash
    with caplog.at_level("WARNING", logger="baton.serve"):
        assert read_gpus(_Nvml(1)) == (0, None)
    assert "NVML failed while listing GPUs (RuntimeError: NVML_ERROR_INVALID_ARGUMENT)" in (
        caplog.text
    )  # issue 15.7: said, not swallowed


def test_read_gpus_without_nvml_is_a_cpu_server() -> None:
    """The real path here: no NVML library (or no driver) on this machine."""
    try:
        import pynvml  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        assert read_gpus() == (0, None)
    else:
        pytest.skip("NVML is installed here")

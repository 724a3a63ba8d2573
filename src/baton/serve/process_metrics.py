"""CPU and memory of the whole server, and what the machine lets it use.

With ``--workers`` above 1 prometheus-client's multiprocess mode turns its per-process
collector off, yet the right-size audit needs the server's CPU and memory. The
``ServerProcessCollector`` reports ``process_cpu_seconds_total`` and
``process_resident_memory_bytes`` summed over the server's main process and every process
under it (its workers), read from ``/proc`` the way prometheus-client's own collector
reads one process. CPU includes the reaped children's time (``cutime``, ``cstime``), so
the counter does not drop when a worker exits and is replaced.

``read_limits`` reads what the server may use (CPU affinity, the cgroup's CPU quota and
memory limit, the machine's RAM); ``baton serve`` records it in the store for the audit.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from baton.core import metric_names as names

log = logging.getLogger("baton.serve")

PROCESS_CPU = names.PROCESS_CPU
PROCESS_RESIDENT_MEMORY = names.PROCESS_RESIDENT_MEMORY
PROC = Path("/proc")
CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class ProcessUsage:
    """CPU seconds (user + system, children included) and resident bytes of a process tree."""

    cpu_seconds: float
    resident_bytes: int
    processes: int


def _stat_fields(proc: Path, pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:  # gone meanwhile
        return None
    return text.rsplit(")", 1)[1].split()


def _children(proc: Path, pid: int) -> list[int]:
    """Direct children of ``pid``, from every thread's ``children`` file, else a /proc scan."""
    tasks = proc / str(pid) / "task"
    found: list[int] = []
    try:
        threads = list(tasks.iterdir())
    except OSError:
        threads = []
    if not (threads and (threads[0] / "children").exists()):
        return _children_by_scan(proc, pid)
    for thread in threads:
        try:
            found.extend(int(c) for c in (thread / "children").read_text().split())
        except OSError:
            continue
    return found


def _children_by_scan(proc: Path, pid: int) -> list[int]:
    """For kernels without ``children`` files: every process whose parent is ``pid``."""
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(proc, int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def tree(root: int, proc: Path = PROC) -> list[int]:
    """``root`` and every process under it, root first."""
    seen: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(_children(proc, pid))
    return seen


def tree_usage(root: int, proc: Path = PROC) -> ProcessUsage:
    """CPU and resident memory of ``root`` and everything under it."""
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu_ticks = 0
    resident = 0
    count = 0
    for pid in tree(root, proc):
        fields = _stat_fields(proc, pid)
        if fields is None:
            continue
        # after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
        cpu_ticks += sum(int(f) for f in fields[11:15])
        with contextlib.suppress(OSError, IndexError, ValueError):
            resident += int((proc / str(pid) / "statm").read_text().split()[1]) * page
        count += 1
    return ProcessUsage(cpu_ticks / ticks, resident, count)


class ServerProcessCollector(Collector):
    """The standard process metrics, summed over a server and all its worker processes."""

    def __init__(self, root: int, proc: Path = PROC) -> None:
        self.root = root
        self.proc = proc

    def collect(self) -> Iterator[Metric]:
        usage = tree_usage(self.root, self.proc)
        if usage.processes == 0:
            return
        cpu = CounterMetricFamily(
            PROCESS_CPU.removesuffix("_total"),
            "Total user and system CPU time spent in seconds (the server and its workers).",
            value=usage.cpu_seconds,
        )
        memory = GaugeMetricFamily(
            PROCESS_RESIDENT_MEMORY,
            "Resident memory size in bytes (the server and its workers).",
            value=usage.resident_bytes,
        )
        yield cpu
        yield memory


@dataclass(frozen=True)
class Limits:
    """What the machine lets this process use."""

    cpu_affinity: tuple[int, ...]
    cpu_limit: float | None  # cores; None: no quota
    memory_limit_bytes: int | None  # None: no limit below the machine's RAM
    memory_total_bytes: int


def read_limits(cgroup: Path = CGROUP, proc: Path = PROC) -> Limits:
    """CPU affinity, the cgroup (v2, else v1) CPU quota and memory limit, and total RAM.

    The effective limit is the tightest along the process's cgroup path, so a limit set on
    a parent (a Kubernetes pod around its container) counts too.
    """
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    affinity = tuple(sorted(os.sched_getaffinity(0)))
    membership = _cgroups(proc)
    if (cgroup / "cgroup.controllers").exists():
        folders = _ancestors(cgroup, membership.get("", "/"))
        cpu = _min(_cpu_v2(f / "cpu.max") for f in folders)
        memory = _min(_number(f / "memory.max") for f in folders)
    else:
        cpu_folders = _ancestors(cgroup / "cpu", membership.get("cpu", "/"))
        cpu = _min(_cpu_v1(f) for f in cpu_folders)
        mem_folders = _ancestors(cgroup / "memory", membership.get("memory", "/"))
        memory = _min(_number(f / "memory.limit_in_bytes") for f in mem_folders)
    if memory is not None and memory >= total:
        memory = None  # "no limit" is written as a huge number on cgroup v1
    return Limits(affinity, cpu, int(memory) if memory is not None else None, total)


def _cgroups(proc: Path) -> dict[str, str]:
    """Controller -> cgroup path of this process ("" is the cgroup v2 unified path)."""
    found: dict[str, str] = {}
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                found[controller] = parts[2]
    return found


def _ancestors(base: Path, path: str) -> list[Path]:
    """``base/path`` and each folder above it up to ``base`` (those that exist)."""
    parts = [p for p in path.split("/") if p]
    folders = [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]
    return [f for f in folders if f.is_dir()]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _number(path: Path) -> float | None:
    text = _read(path)
    if text is None or text == "max":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _cpu_v2(path: Path) -> float | None:
    """``cpu.max`` is "QUOTA PERIOD" in microseconds, or "max PERIOD" for no quota."""
    text = _read(path)
    if not text:
        return None
    quota, _, period = text.partition(" ")
    try:
        return None if quota == "max" else float(quota) / float(period or 100_000)
    except (ValueError, ZeroDivisionError):
        return None


def _cpu_v1(folder: Path) -> float | None:
    quota = _number(folder / "cpu.cfs_quota_us")
    period = _number(folder / "cpu.cfs_period_us")
    if quota is None or quota <= 0 or not period:
        return None
    return quota / period


def _min(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def read_gpus(nvml: Any | None = None) -> tuple[int, str | None]:
    """GPUs this server can see and the first one's name; (0, None) without NVML or a GPU.

    NVML lists every GPU of the machine; ``CUDA_VISIBLE_DEVICES`` is what the runtime may
    use, so it bounds the count and picks the device whose name is recorded.
    """
    if nvml is None:
        try:
            import pynvml  # type: ignore[import-not-found]
        except ImportError:  # no NVML library: a CPU server
            return 0, None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError:  # no driver: a CPU server
            return 0, None
        nvml = pynvml
    try:
        count = int(nvml.nvmlDeviceGetCount())
        first = 0
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            ids = [v.strip() for v in visible.split(",") if v.strip() not in ("", "-1")]
            count = min(count, len(ids))
            first = int(ids[0]) if ids and ids[0].isdigit() else 0
        if count < 1:
            return 0, None
        name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(first))
        return count, name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:  # a driver that fails mid-query: report no GPU, and say so
        log.warning(
            "NVML failed while listing GPUs (%s: %s): reporting none", type(exc).__name__, exc
        )
        return 0, None

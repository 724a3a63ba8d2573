"""Audit speed: 1,000 deployments with 14 days of history in a real Prometheus.

.venv/bin/python bench/audit.py [--deployments 1000 | --sizes 100 300 1000] [--days 14]
                                [--interval 300] [--fresh]

A synthetic fleet (``testkit.synthetic``: daily cycles, spikes, autoscaled and GPU
deployments, the real latency buckets, 1-3 replicas each) is written as OpenMetrics in
two-hour chunks and loaded with ``promtool tsdb create-blocks-from openmetrics``, chunk by
chunk, while the next chunk is generated. The TSDB is cached under ``bench/.data/`` keyed by
the parameters, after Prometheus has compacted it once, so reruns skip the generation;
generation time is printed on its own. Then it times ``collect`` (usage of every deployment)
and the whole audit (``baton.audit.service.run_audit``), and prints the seconds and the
number of queries. ``collect``'s time is split, from each call's timing and Prometheus' own
query stats (``stats=all``): Prometheus' evaluation, the transfer (its JSON encoding and
the HTTP exchange), decoding here, and the client's work after the last answer; and the CPU
seconds each side used, which a loaded machine does not inflate the way it does wall time.
``--sizes`` runs several fleet sizes and fits the growth. Target (issue 20): the whole
audit within 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from baton.audit.prices import default_prices
from baton.audit.prometheus import Prometheus
from baton.audit.service import run_audit
from baton.audit.usage import collect, in_flight
from baton.core.inventory import Deployment
from baton.monitor.promtool import locate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit: not installed
from testkit.backfill import backfill, serve_tsdb
from testkit.synthetic import GIB, MIB, Spec, Spike, SyntheticFleet, write_openmetrics

ROOT = Path(__file__).resolve().parent
DATA = ROOT / ".data"
GENERATOR = 1  # bump when the synthetic data changes shape, so caches are rebuilt
HOUR = 3600
QUERY_TIMEOUT = "20m"  # Prometheus' limit per query: a loaded machine needs more than 2m


def bench_fleet(n: int, days: float, interval_s: int, end: float, seed: int = 0) -> SyntheticFleet:
    """A realistic mixed fleet: mostly one or two fixed replicas, some autoscaled, some idle."""
    rng = np.random.default_rng(seed)
    specs = []
    for i in range(n):
        kind = i % 20
        base = float(rng.lognormal(math.log(15), 1.0))
        spikes: tuple[Spike, ...] = ()
        if kind in (3, 11):
            at = float(rng.uniform(0, days * 86400 - 4 * HOUR))
            spikes = (Spike(at, float(rng.uniform(1, 4)) * HOUR, float(rng.uniform(1.5, 4))),)
        specs.append(
            Spec(
                name=f"d{i:04d}",
                model=f"model-{i:04d}",
                version=str(1 + i % 3),
                replicas=2 if kind % 3 == 0 else 1,
                autoscale=(1, 3) if kind in (1, 7) else None,
                target_rps_per_replica=max(base, 1.0),
                base_rps=0.0 if kind == 19 else base,
                daily_amplitude=float(rng.uniform(0.2, 0.9)),
                spikes=spikes,
                latency_median_ms=float(rng.uniform(1, 40)),
                latency_sigma=float(rng.uniform(0.2, 0.7)),
                cpu_per_request_s=float(rng.uniform(0.0005, 0.02)),
                memory_bytes=float(rng.uniform(200, 3000)) * MIB,
                gpu="nvml" if kind == 5 else None,
                gpu_utilization=0.5 if kind == 5 else 0.0,
                gpu_memory_bytes=4 * GIB if kind == 5 else 0.0,
                cores=float(rng.choice([0.5, 1, 2, 4])),
                memory_request_bytes=float(rng.choice([1, 2, 4])) * GIB,
                rps_at_slo=float(rng.uniform(20, 200)),
                slo_p99_ms=float(rng.choice([50, 100, 250])),
            )
        )
    return SyntheticFleet(tuple(specs), end=end, days=days, interval_s=interval_s)


def cache_dir(args: argparse.Namespace) -> Path:
    key = f"g{GENERATOR}-n{args.deployments}-d{args.days:g}-i{args.interval}-s{args.seed}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return DATA / f"audit-{key}-{digest}"


def metric(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def settle(url: str) -> float:
    """Wait until Prometheus has compacted the backfilled blocks; seconds waited."""
    began = time.monotonic()
    # the compaction loop first runs a minute after start and compacts every level at once
    while metric(url, "prometheus_tsdb_compactions_total") < 1:
        if time.monotonic() - began > 600:
            break
        time.sleep(2)
    stable, last = time.monotonic(), metric(url, "prometheus_tsdb_blocks_loaded")
    while time.monotonic() - stable < 15:
        time.sleep(2)
        now = metric(url, "prometheus_tsdb_blocks_loaded")
        if now != last:
            stable, last = time.monotonic(), now
    return time.monotonic() - began


def generate(fleet: SyntheticFleet, folder: Path) -> dict[str, float]:
    """Write and backfill chunk by chunk: Python writes one while promtool loads the last."""
    tsdb = folder / "tsdb"
    scratch = Path(tempfile.mkdtemp(prefix="audit-om-", dir=folder))
    promtool = locate("promtool")
    began = time.perf_counter()
    chunks = 0
    with ThreadPoolExecutor(max_workers=1) as loader:
        pending: Future[int] | None = None
        for path in write_openmetrics(fleet, scratch):
            if pending is not None:
                pending.result()
            pending = loader.submit(backfill, [path], tsdb, promtool, delete=True)
            chunks += 1
        if pending is not None:
            pending.result()
    shutil.rmtree(scratch, ignore_errors=True)
    return {"generate_s": time.perf_counter() - began, "chunks": chunks}


def prepare(args: argparse.Namespace) -> tuple[Path, SyntheticFleet, dict[str, float], bool]:
    """The cached TSDB for ``args`` (generated if absent): folder, fleet, meta, fresh."""
    folder = cache_dir(args)
    meta_file = folder / "meta.json"
    if args.fresh and folder.exists():
        shutil.rmtree(folder)
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        fleet = bench_fleet(args.deployments, args.days, args.interval, meta["end"], args.seed)
        print(f"cached TSDB: {folder.relative_to(ROOT.parent)}")
        return folder, fleet, meta, False
    if folder.exists():
        shutil.rmtree(folder)  # a generation that did not finish
    folder.mkdir(parents=True)
    end = float(math.floor(time.time() / 7200) * 7200)
    fleet = bench_fleet(args.deployments, args.days, args.interval, end, args.seed)
    print(f"generating {args.deployments} deployments x {args.days:g} days ...", flush=True)
    return folder, fleet, {"end": end, **generate(fleet, folder)}, True


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Split:
    """Where one ``collect`` went: wall, the queries' phases, and the CPU each side used."""

    deployments: int
    collect_s: float
    queries: int
    megabytes: float
    query_phase_s: float  # first request sent -> last answer decoded
    server_s: float  # summed over the calls: Prometheus' own evaluation (stats=all)
    exchange_s: float  # summed: request -> answer received (evaluation, encoding, transfer)
    decode_s: float  # summed: answer -> arrays, wall
    decode_cpu_s: float  # summed: the same, CPU of the decoding thread
    samples: int  # samples Prometheus read
    peak_samples: int  # most samples one query held at once (Prometheus' limit: 50 M)
    prometheus_cpu_s: float  # Prometheus' process, during collect
    client_cpu_s: float  # this process, during collect
    slowest: str  # the call with the longest exchange, and its figures
    in_flight: int  # queries side by side (as many as Prometheus' cores, 2 to 4)
    load: float  # the machine's load average (1 minute) when collect ended

    @property
    def transfer_s(self) -> float:
        return self.exchange_s - self.server_s

    @property
    def client_s(self) -> float:
        """Wall time after the last answer: building one Observed per deployment."""
        return self.collect_s - self.query_phase_s


def measure_collect(
    url: str, pid: int, deployments: list[Deployment], start: float, end: float, rate_window: float
) -> Split:
    with Prometheus(url) as look:
        cores = look.runtime().cores
    with Prometheus(url, timeout=1200, stats=True) as prom:
        prom_cpu, own_cpu = cpu_seconds(pid), time.process_time()
        began = time.perf_counter()
        data = collect(prom, deployments, start, end, rate_window_s=rate_window)
        collect_s = time.perf_counter() - began
        prom_cpu, own_cpu = cpu_seconds(pid) - prom_cpu, time.process_time() - own_cpu
        timings = prom.timings
    done = max(t.at_s + t.exchange_s + t.decode_s for t in timings)
    slow = max(timings, key=lambda t: t.exchange_s)
    return Split(
        deployments=len(deployments),
        collect_s=collect_s,
        queries=data.queries,
        megabytes=sum(t.size for t in timings) / 1e6,
        query_phase_s=done - min(t.at_s for t in timings),
        server_s=sum(t.server_s or 0.0 for t in timings),
        exchange_s=sum(t.exchange_s for t in timings),
        decode_s=sum(t.decode_s for t in timings),
        decode_cpu_s=sum(t.decode_cpu_s for t in timings),
        samples=sum(t.samples or 0 for t in timings),
        peak_samples=max(t.peak_samples or 0 for t in timings),
        prometheus_cpu_s=prom_cpu,
        client_cpu_s=own_cpu,
        slowest=(
            f"{' '.join(slow.query.split())[:60]}: exchange {slow.exchange_s:.1f} s "
            f"(Prometheus {slow.server_s or 0:.1f} s), {slow.size / 1e6:.0f} MB"
        ),
        in_flight=in_flight(cores),
        load=os.getloadavg()[0],
    )


def show_split(s: Split) -> None:
    print(
        f"collect: {s.collect_s:.1f} s, {s.queries} queries, {s.megabytes:.0f} MB of answers, "
        f"{s.samples / 1e6:.0f} M samples read, at most {s.peak_samples / 1e6:.1f} M held by one "
        f"query\n"
        f"  queries in flight {s.query_phase_s:.1f} s, then client {s.client_s:.1f} s "
        f"(one Observed per deployment)\n"
        f"  summed over the calls ({s.in_flight} in flight): Prometheus {s.server_s:.1f} s, "
        f"transfer {s.transfer_s:.1f} s, decode {s.decode_s:.1f} s "
        f"(CPU {s.decode_cpu_s:.1f} s)\n"
        f"  CPU used: Prometheus {s.prometheus_cpu_s:.1f} s, client {s.client_cpu_s:.1f} s "
        f"-> {(s.prometheus_cpu_s + s.client_cpu_s) / 2:.1f} s on 2 idle cores\n"
        f"  slowest call: {s.slowest}"
    )


def run_size(args: argparse.Namespace) -> tuple[Split, float]:
    """Prepare, serve, measure ``collect`` then the whole audit; the split and audit seconds."""
    folder, fleet, meta, fresh = prepare(args)
    proc, url = serve_tsdb(folder / "tsdb", folder, query_timeout=QUERY_TIMEOUT)
    try:
        if fresh:
            meta["compact_s"] = settle(url)
            (folder / "meta.json").write_text(json.dumps(meta))
        print(
            f"generation: {meta['generate_s']:.1f} s for {meta['chunks']:.0f} chunks "
            f"(write + promtool), compaction {meta.get('compact_s', 0):.0f} s"
            + ("" if fresh else " (earlier run, cached)")
        )
        deployments = fleet.deployments()
        start, end = fleet.start, float(fleet.timestamps()[-1])
        split = measure_collect(url, proc.pid, deployments, start, end, args.rate_window)
        show_split(split)
        audit_s, queries = whole_audit(url, deployments, start, end, args.rate_window)
        print(f"audit: {audit_s:.1f} s, {queries} queries (target <= 30 s)")
        print(machine())
        return split, audit_s
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def machine() -> str:
    return (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}"
    )


def growth(rows: list[tuple[Split, float]]) -> None:
    """The table over fleet sizes, and a fit of seconds against deployments."""
    print(
        "\n| deployments | collect s | audit s | Prometheus s | transfer s | decode s | client s "
        "| Prometheus CPU s | client CPU s | MB | peak M samples | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s, audit_s in rows:
        print(
            f"| {s.deployments:,} | {s.collect_s:.1f} | {audit_s:.1f} | {s.server_s:.1f} | "
            f"{s.transfer_s:.1f} | {s.decode_s:.1f} | {s.client_s:.1f} | "
            f"{s.prometheus_cpu_s:.1f} | {s.client_cpu_s:.1f} | {s.megabytes:.0f} | "
            f"{s.peak_samples / 1e6:.1f} | {s.load:.1f} |"
        )
    if len(rows) < 2:
        return
    n = np.array([s.deployments for s, _ in rows], dtype=np.float64)
    for name, seconds in (
        ("audit wall", [a for _, a in rows]),
        ("Prometheus CPU", [s.prometheus_cpu_s for s, _ in rows]),
        ("client CPU", [s.client_cpu_s for s, _ in rows]),
        ("peak samples (M)", [s.peak_samples / 1e6 for s, _ in rows]),
    ):
        y = np.array(seconds)
        slope, intercept = np.polyfit(n, y, 1)
        power = np.polyfit(np.log(n), np.log(y), 1)[0]
        print(
            f"{name}: {intercept:.1f} + {slope * 1000:.1f} per 1,000 deployments "
            f"(log-log slope {power:.2f}; 1.0 = linear) -> at 10,000: {intercept + slope * 1e4:.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="growth mode: these fleet sizes, e.g. 100 300 1000"
    )
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--interval", type=int, default=300, help="sample interval, seconds")
    parser.add_argument("--rate-window", type=float, default=900.0, help=">= 3 intervals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached TSDB")
    args = parser.parse_args()
    rows = []
    for n in args.sizes or [args.deployments]:
        print(f"== {n} deployments")
        rows.append(run_size(argparse.Namespace(**{**vars(args), "deployments": n})))
    if args.sizes:
        growth(rows)


def whole_audit(
    url: str, deployments: list[Deployment], start: float, end: float, rate_window: float
) -> tuple[float, int]:
    """Seconds and queries of ``run_audit``: usage, capacity, sizing and cost."""
    with Prometheus(url, timeout=1200) as prom:
        began = time.perf_counter()
        run_audit(deployments, prom, start, end, prices=default_prices(), rate_window_s=rate_window)
        return time.perf_counter() - began, prom.queries


if __name__ == "__main__":
    main()

"""Audit speed: 1,000 deployments with 14 days of history in a real Prometheus.

.venv/bin/python bench/audit.py [--deployments 1000] [--days 14] [--interval 300] [--fresh]

A synthetic fleet (``testkit.synthetic``: daily cycles, spikes, autoscaled and GPU
deployments, the real latency buckets, 1-3 replicas each) is written as OpenMetrics in
two-hour chunks and loaded with ``promtool tsdb create-blocks-from openmetrics``, chunk by
chunk, while the next chunk is generated. The TSDB is cached under ``bench/.data/`` keyed by
the parameters, after Prometheus has compacted it once, so reruns skip the generation;
generation time is printed on its own. Then it times ``collect`` (usage of every deployment)
and the whole audit (``baton.audit.service.run_audit``), and prints the seconds and the
number of queries. Target (issue 8): the whole audit under 60 s on 2 cores.
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
from pathlib import Path

import httpx
import numpy as np

from baton.audit.prices import default_prices
from baton.audit.prometheus import Prometheus
from baton.audit.service import run_audit
from baton.audit.usage import collect
from baton.core.inventory import Deployment
from baton.monitor.promtool import locate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit: not installed
from testkit.backfill import backfill, serve_tsdb
from testkit.synthetic import GIB, MIB, Spec, Spike, SyntheticFleet, write_openmetrics

ROOT = Path(__file__).resolve().parent
DATA = ROOT / ".data"
GENERATOR = 1  # bump when the synthetic data changes shape, so caches are rebuilt
HOUR = 3600


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--interval", type=int, default=300, help="sample interval, seconds")
    parser.add_argument("--rate-window", type=float, default=900.0, help=">= 3 intervals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached TSDB")
    args = parser.parse_args()

    folder = cache_dir(args)
    meta_file = folder / "meta.json"
    if args.fresh and folder.exists():
        shutil.rmtree(folder)
    fresh = not meta_file.exists()
    if fresh:
        if folder.exists():
            shutil.rmtree(folder)  # a generation that did not finish
        folder.mkdir(parents=True)
        end = float(math.floor(time.time() / 7200) * 7200)
        fleet = bench_fleet(args.deployments, args.days, args.interval, end, args.seed)
        print(f"generating {args.deployments} deployments x {args.days:g} days ...", flush=True)
        meta: dict[str, float] = {"end": end, **generate(fleet, folder)}
    else:
        meta = json.loads(meta_file.read_text())
        fleet = bench_fleet(args.deployments, args.days, args.interval, meta["end"], args.seed)
        print(f"cached TSDB: {folder.relative_to(ROOT.parent)}")

    proc, url = serve_tsdb(folder / "tsdb", folder)
    try:
        if fresh:
            meta["compact_s"] = settle(url)
            meta_file.write_text(json.dumps(meta))
        print(
            f"generation: {meta['generate_s']:.1f} s for {meta['chunks']:.0f} chunks "
            f"(write + promtool), compaction {meta.get('compact_s', 0):.0f} s"
            + ("" if fresh else " (earlier run, cached)")
        )
        deployments = fleet.deployments()
        start, end = fleet.start, float(fleet.timestamps()[-1])
        with Prometheus(url, timeout=120) as prom:
            began = time.perf_counter()
            data = collect(prom, deployments, start, end, rate_window_s=args.rate_window)
            collect_s = time.perf_counter() - began
        covered = sum(1 for o in data.by_name.values() if o.usage.coverage > 0.9)
        print(
            f"collect: {collect_s:.1f} s, {data.queries} queries, {covered}/{len(deployments)} "
            f"deployments with > 90% coverage (step {data.step_s:g} s, plot {data.plot_step_s:g} s)"
        )
        audit_s, queries = whole_audit(url, deployments, start, end, args.rate_window)
        print(f"audit: {audit_s:.1f} s, {queries} queries (target < 60 s)")
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def whole_audit(
    url: str, deployments: list[Deployment], start: float, end: float, rate_window: float
) -> tuple[float, int]:
    """Seconds and queries of ``run_audit``: usage, capacity, sizing and cost."""
    with Prometheus(url, timeout=120) as prom:
        began = time.perf_counter()
        run_audit(deployments, prom, start, end, prices=default_prices(), rate_window_s=rate_window)
        return time.perf_counter() - began, prom.queries


if __name__ == "__main__":
    main()

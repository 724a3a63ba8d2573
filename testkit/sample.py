"""A realistic sample audit: a small fleet with every verdict, for tests, docs and screenshots.

The usage is synthetic (a daily traffic cycle with noise, latency from an M/M/1 queue per
replica, CPU from a per-request cost plus idle cores) but every figure downstream of it is
computed the way the audit computes it: usage statistics from the series, and verdicts,
sizing and cost from the audit's own ``service.size_deployment`` with the built-in price
table. Nothing here is hand-written output, so the sample cannot drift from the audit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from baton.audit.observed import Observed, Series
from baton.audit.prices import PriceTable, default_prices
from baton.audit.result import AuditResult, Row
from baton.audit.service import size_deployment
from baton.core.inventory import CapacityOption, Deployment, Resources, Serving
from baton.core.pricing import GIB
from baton.core.sizing import Capacity, ObservedUsage, SizingPolicy, load_at_slo

DAY_S = 86_400.0
END = 1_767_225_600.0  # 2026-01-01T00:00:00Z: fixed, so the sample renders the same each time
PROMETHEUS = "http://prometheus.example:9090"


@dataclass(frozen=True)
class _Spec:
    """One synthetic deployment: what it was given, what it can do, how busy it is."""

    name: str
    model: str
    version: str
    replicas: int
    cores: float
    memory_gib: float
    peak_rps: float  # busiest hour's mean, before noise
    saturation_rps: float | None  # per replica; None: never profiled
    slo_ms: float = 50.0
    gpus: int = 0
    hardware: str = "cpu"
    min_replicas: int | None = None
    max_replicas: int | None = None
    coverage: float = 1.0
    missing: tuple[str, ...] = ()
    cpu_option: float | None = None  # saturation of a 4-core CPU replica, for GPU models
    owner: str = "serving"


_FLEET = (
    _Spec("search-ranker", "search-ranker", "7", 4, 4, 6, 1500, 600, slo_ms=40),
    _Spec("fraud-scorer", "fraud-scorer", "12", 8, 4, 8, 260, 700, slo_ms=25),
    _Spec("speech-intent", "speech-intent", "3", 3, 2, 3, 1010, 560, slo_ms=60),
    _Spec(
        "recsys-embedder",
        "recsys-embedder",
        "21",
        4,
        2,
        4,
        2200,
        450,
        slo_ms=80,
        min_replicas=2,
        max_replicas=12,
    ),
    _Spec(
        "image-tagger",
        "image-tagger",
        "5",
        2,
        4,
        16,
        30,
        900,
        slo_ms=100,
        gpus=1,
        hardware="nvidia-t4",
        cpu_option=90,
    ),
    _Spec("digits-classifier", "digits-classifier", "2", 2, 1, 1, 300, 900, slo_ms=20),
    _Spec("churn-predictor", "churn-predictor", "4", 3, 2, 4, 0.002, 400),
    _Spec(
        "doc-ocr",
        "doc-ocr",
        "9",
        2,
        4,
        8,
        40,
        120,
        slo_ms=500,
        coverage=0.3,
        missing=("cpu", "memory"),
    ),
    _Spec("translate-small", "translate-small", "1", 2, 2, 4, 25, None, slo_ms=200),
)


def sample_result(
    extra: int = 0, seed: int = 0, days: float = 14, step_s: float = 3600.0
) -> AuditResult:
    """An audit of the sample fleet, plus ``extra`` generated over-provisioned deployments."""
    rng = np.random.default_rng(seed)
    start = END - days * DAY_S
    times = np.arange(start, END, step_s)
    prices = default_prices()
    policy = SizingPolicy()
    specs = list(_FLEET)
    for i in range(extra):
        specs.append(
            _Spec(
                f"svc-{i:03d}", f"svc-{i:03d}", str(1 + i % 5), int(rng.integers(2, 10)),
                float(rng.choice([1, 2, 4])), float(rng.choice([2, 4, 8])),
                float(rng.uniform(5, 800)), float(rng.uniform(300, 1200)),
            )
        )  # fmt: skip
    rows = tuple(_row(s, times, step_s, rng, prices, policy) for s in specs)
    return AuditResult(
        prometheus_url=PROMETHEUS,
        start=start,
        end=END,
        step_s=300.0,
        plot_step_s=step_s,
        queries=14,
        elapsed_s=2.4,
        rows=rows,
        prices=prices.to_report(),
        notes=("sample data: a synthetic fleet, not a real audit",),
        settings={
            "window": f"{days:g}d",
            "headroom": policy.headroom,
            "min_replicas": policy.min_replicas,
            "min_coverage": policy.min_coverage,
            "risk_utilization": policy.risk_utilization,
            "queries": [
                "sum by (model, version) (rate(baton_requests_total[5m]))",
                "histogram_quantile(0.99, sum by (model, version, le) "
                "(rate(baton_request_duration_seconds_bucket[5m])))",
                "rate(process_cpu_seconds_total[5m])",
                "max_over_time(process_resident_memory_bytes[5m])",
            ],
        },
    )


@dataclass(frozen=True)
class _Lines:
    """One deployment's synthetic series over the window, NaN where it had no data."""

    times: np.ndarray
    rps: np.ndarray
    replicas: np.ndarray
    p99: np.ndarray
    cpu: np.ndarray
    memory: np.ndarray
    kept: np.ndarray  # the points with data (the window's end: coverage)


def _row(
    s: _Spec,
    times: np.ndarray,
    step_s: float,
    rng: np.random.Generator,
    prices: PriceTable,
    policy: SizingPolicy,
) -> Row:
    observed = _observed(s, _lines(s, times, rng), step_s)
    deployment = _deployment(s)
    return size_deployment(deployment, observed, None, s.slo_ms, None, policy, prices.to_sizing())


def _lines(s: _Spec, times: np.ndarray, rng: np.random.Generator) -> _Lines:
    """A daily cycle with noise; replicas following it when autoscaled; M/M/1 latency."""
    hours = (times % DAY_S) / 3600
    cycle = 0.35 + 0.65 * np.clip(np.sin((hours - 7) / 24 * 2 * math.pi), 0, None) ** 1.5
    rps = s.peak_rps * cycle * rng.lognormal(0, 0.08, times.size)
    if s.min_replicas is not None and s.max_replicas is not None:
        per = 0.6 * (s.saturation_rps or 1.0)
        replicas = np.clip(np.ceil(rps / per), s.min_replicas, s.max_replicas)
    else:
        replicas = np.full(times.size, float(s.replicas))
    per_replica = rps / replicas
    mu = s.saturation_rps or per_replica.max() * 10 + 1
    with np.errstate(divide="ignore"):
        p99 = np.where(per_replica < mu, math.log(100) / (mu - per_replica) * 1000, 10 * s.slo_ms)
    p99 = np.minimum(p99 + 2.0, 10 * s.slo_ms)
    cpu = 0.05 + per_replica * s.cores / max(mu, 1.0) * rng.uniform(0.8, 1.0, times.size)
    memory = (0.45 * s.memory_gib * GIB) * (1 + 0.05 * np.sin(times / 7200.0))
    kept = times >= times[0] + (1 - s.coverage) * (times[-1] - times[0])
    return _Lines(times, rps, replicas, p99, cpu, memory, kept)


def _observed(s: _Spec, lines: _Lines, step_s: float) -> Observed:
    """What the audit would read of the series: statistics over the kept points, timelines."""
    times, rps, p99, cpu, memory, kept = (
        lines.times, lines.rps, lines.p99, lines.cpu, lines.memory, lines.kept
    )  # fmt: skip
    cut = {
        "rps": rps,
        "replicas": lines.replicas,
        "p99_ms": p99,
        "cpu": cpu if "cpu" not in s.missing else np.full(times.size, np.nan),
        "memory": memory if "memory" not in s.missing else np.full(times.size, np.nan),
    }
    for values in cut.values():
        values[~kept] = np.nan
    live = rps[kept]
    usage = ObservedUsage(
        rps_mean=float(live.mean()),
        rps_p95=float(np.percentile(live, 95)),
        rps_peak=float(live.max()),
        p99_latency_ms=float(np.percentile(p99[kept], 99)),
        cpu_cores_p95=None if "cpu" in s.missing else float(np.percentile(cpu[kept], 95)),
        memory_peak_bytes=None if "memory" in s.missing else float(memory[kept].max()),
        coverage=s.coverage,
    )
    hour_of_day = ((times[kept] % DAY_S) // 3600).astype(int)
    return Observed(
        usage=usage,
        rps_p99=float(np.percentile(live, 99)),
        requests=float(live.sum() * step_s),
        daily_pattern=tuple(float(live[hour_of_day == h].mean()) for h in range(24)),
        replicas_min=float(lines.replicas.min()),
        replicas_max=float(lines.replicas.max()),
        replicas_mean=float(lines.replicas.mean()),
        cpu_cores_mean=None if "cpu" in s.missing else float(cpu[kept].mean()),
        cpu_source=None if "cpu" in s.missing else "process",
        memory_source=None if "memory" in s.missing else "process",
        slo_breach_share=float((p99[kept] > s.slo_ms).mean()),
        data_from=float(times[kept][0]),
        missing=s.missing,
        timeline={
            k: Series(tuple(float(t) for t in times), tuple(float(v) for v in vals))
            for k, vals in cut.items()
        },
    )


def _deployment(s: _Spec) -> Deployment:
    """The spec as the inventory would hold it, with its capacity as a load test found it."""
    options = []
    if s.saturation_rps is not None:
        options.append((s.hardware, s.cores, s.gpus, s.saturation_rps))
    if s.cpu_option is not None:
        options.append(("cpu", 4.0, 0, s.cpu_option))
    capacity = tuple(
        CapacityOption(
            hardware=hardware,
            cores=cores,
            memory_bytes=0.3 * s.memory_gib * GIB,
            gpus=gpus,
            # what a load test at the SLO would find on a replica saturating at this rate
            rps_at_slo=load_at_slo(Capacity(saturation, cores), s.slo_ms),
        )
        for hardware, cores, gpus, saturation in options
    )
    return Deployment(
        name=s.name,
        model=s.model,
        version=s.version,
        source="kubernetes" if s.max_replicas else "fleet",
        replicas=s.replicas,
        min_replicas=s.min_replicas,
        max_replicas=s.max_replicas,
        resources=Resources(
            cores=s.cores,
            memory_bytes=s.memory_gib * GIB,
            cpu_limit=s.cores * 2,
            memory_limit_bytes=s.memory_gib * GIB,
            gpus=s.gpus,
            hardware=s.hardware,
        ),
        serving=Serving(max_batch_size=8, threads=int(s.cores), precision="fp32"),
        namespace="ml-serving",
        owner=s.owner,
        origin=f"sample fleet: {s.name}",
        capacity=capacity,
    )

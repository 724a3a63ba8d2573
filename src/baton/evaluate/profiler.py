"""Profile a model across runtime configurations and pick the one to serve.

The grid is batch size x concurrency x runtime configuration (provider, intra-op threads,
graph optimisation level, fp32 or int8 dynamic quantisation). Each point runs for a fixed
time on rows of the eval data and records per-call latency and rows per second; session
load time, resident memory and file size are measured per configuration. The whole
profile is bounded in time, so ``--quick`` takes seconds and the default under a minute.

How a point maps to the SLO (single-row requests, as served): the server merges the
requests already queued into batches of up to ``batch_size``, so a request may wait for the
batch in flight and then for its own: served p99 = 2 x the batch's compute p99, plus any
batching delay the policy allows (baton's server holds none). Throughput is the rows per
second measured at that batch size and concurrency: the model's in-process ceiling, which
the HTTP path of a server lowers (see bench/README.md for what it costs).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from baton.core.gate import OperatingPoint, cheapest_point, slo_shortfalls
from baton.core.manifest import SLO
from baton.core.serving_config import ServingConfig
from baton.evaluate.runner import ModelCrashed, first_line, open_session

Mode = Literal["quick", "default", "full"]
Progress = Callable[[int], None]  # points just measured
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class Plan:
    mode: Mode
    threads: tuple[int, ...]
    optimizations: tuple[Literal["disable", "basic", "extended", "all"], ...]
    precisions: tuple[Literal["fp32", "int8"], ...]
    batch_sizes: tuple[int, ...]
    concurrency: tuple[int, ...]
    seconds: float  # measuring time per point
    budget_s: float  # the whole profile stops here
    bootstrap: int  # resamples for the regression intervals in this mode


def plan_for(mode: Mode, cpus: int) -> Plan:
    """The grid of a mode; thread counts never exceed the cores a replica may use."""
    if mode == "quick":
        return Plan(
            mode=mode,
            threads=(1,),
            optimizations=("all",),
            precisions=("fp32",),
            batch_sizes=(1, 32),
            concurrency=(1,),
            seconds=0.1,
            budget_s=5.0,
            bootstrap=200,
        )
    if mode == "default":
        return Plan(
            mode=mode,
            threads=tuple(sorted({1, min(2, cpus)})),
            optimizations=("basic", "all"),
            precisions=("fp32", "int8"),
            batch_sizes=(1, 8, 32),
            concurrency=(1, 2),
            seconds=0.25,
            budget_s=40.0,
            bootstrap=1000,
        )
    return Plan(
        mode=mode,
        threads=tuple(sorted({t for t in (1, 2, 4, 8, 16) if t <= cpus} | {cpus})),
        optimizations=("disable", "basic", "extended", "all"),
        precisions=("fp32", "int8"),
        batch_sizes=(1, 4, 16, 64, 256),
        concurrency=(1, 2, 4),
        seconds=1.0,
        budget_s=600.0,
        bootstrap=2000,
    )


@dataclass(frozen=True)
class Point:
    """One measured operating point."""

    provider: str
    threads: int
    graph_optimization: str
    precision: str
    batch_size: int
    concurrency: int
    cores: int
    gpus: int
    calls: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput_rps: float
    served_p50_ms: float
    served_p99_ms: float

    @property
    def config_key(self) -> str:
        device = "gpu" if self.gpus else f"{self.threads}t"
        return f"{self.precision} {device} opt={self.graph_optimization}"

    @property
    def key(self) -> str:
        return f"{self.config_key} batch={self.batch_size} x{self.concurrency}"


@dataclass(frozen=True)
class Variant:
    """The model file at one precision."""

    precision: Literal["fp32", "int8"]
    path: Path


@dataclass
class Profile:
    plan: Plan
    points: list[Point] = field(default_factory=list)
    load_seconds: dict[str, float] = field(default_factory=dict)  # precision -> s
    size_bytes: dict[str, int] = field(default_factory=dict)  # precision -> bytes
    memory_bytes: dict[str, int] = field(default_factory=dict)  # config key -> RSS growth
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def quantize_int8(source: Path, dest: Path) -> str | None:
    """Dynamic int8 quantisation (weights int8, activations quantised per call).

    Returns why it could not be done, or None when ``dest`` was written."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.getLogger("root").setLevel(logging.ERROR)
        quantize_dynamic(str(source), str(dest), weight_type=QuantType.QInt8)
    except Exception as exc:
        return f"int8 dynamic quantisation failed ({first_line(exc)})"
    return None


def count_points(plan: Plan, variants: list[Variant], cpus: int, gpu_providers: list[str]) -> int:
    cpu = sum(
        1
        for v in variants
        for t in plan.threads
        for _ in plan.optimizations
        for _ in plan.batch_sizes
        for c in plan.concurrency
        if t * c <= cpus
    )
    gpu = len(gpu_providers) * len(plan.batch_sizes) * len(plan.concurrency)
    return cpu + gpu


def available_gpu_providers() -> list[str]:
    import onnxruntime as ort

    return [p for p in GPU_PROVIDERS if p in ort.get_available_providers()]


def profile(
    variants: list[Variant],
    sample: dict[str, np.ndarray],
    plan: Plan,
    *,
    queue_delay_ms: float,
    max_cores: int | None = None,
    progress: Progress | None = None,
) -> Profile:
    """Measure every point of the plan that fits in its time budget."""
    started = time.perf_counter()
    cpus = max_cores or os.cpu_count() or 1
    result = Profile(plan)
    for v in variants:
        result.size_bytes[v.precision] = v.path.stat().st_size
    run = _Run(
        plan=plan,
        sample=sample,
        cpus=cpus,
        started=started,
        queue_delay_ms=queue_delay_ms,
        progress=progress,
    )
    measured = 0
    total = count_points(plan, variants, cpus, available_gpu_providers())
    for variant, config in _configs(variants, plan, cpus):
        if run.over_budget():
            break
        measured += _profile_config(run, result, variant, config)
    if measured < total:
        result.notes.append(
            f"stopped at the {plan.budget_s:g} s budget of the {plan.mode} profile: "
            f"{measured} of {total} points measured (--full measures more)"
        )
    result.elapsed_s = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class _Run:
    """What every configuration of one profile is measured with."""

    plan: Plan
    sample: dict[str, np.ndarray]
    cpus: int
    started: float  # perf_counter() when the profile began
    queue_delay_ms: float
    progress: Progress | None

    def over_budget(self) -> bool:
        return time.perf_counter() - self.started > self.plan.budget_s


def _configs(variants: list[Variant], plan: Plan, cpus: int) -> list[tuple[Variant, ServingConfig]]:
    """The runtime configurations to measure, in order: CPU ones per precision, then GPUs."""
    configs = [
        (
            v,
            ServingConfig(
                intra_op_threads=t, graph_optimization=opt, precision=v.precision, cores=t
            ),
        )
        for v in variants
        for t in plan.threads
        if t <= cpus
        for opt in plan.optimizations
    ]
    fp32 = next((v for v in variants if v.precision == "fp32"), None)
    if fp32 is not None:
        for provider in available_gpu_providers():
            configs.append((fp32, ServingConfig(provider=provider, cores=1, gpus=1)))
    return configs


def _profile_config(run: _Run, result: Profile, variant: Variant, config: ServingConfig) -> int:
    """Measure one configuration at each batch size and concurrency that fits the cores and
    the budget, with its load time and memory; returns how many points it measured."""
    rss_before = _rss_bytes()
    load_start = time.perf_counter()
    session = open_session(variant.path, config, label=f"{variant.precision} model")
    result.load_seconds.setdefault(variant.precision, time.perf_counter() - load_start)
    measured = 0
    for batch_size in run.plan.batch_sizes:
        inputs = _tile(run.sample, batch_size)
        for concurrency in run.plan.concurrency:
            if config.gpus == 0 and config.intra_op_threads * concurrency > run.cpus:
                continue
            if run.over_budget():
                break
            timing = _measure(session, inputs, concurrency, run.plan.seconds)
            result.points.append(
                _point(variant, config, batch_size, concurrency, timing, run.queue_delay_ms)
            )
            measured += 1
            if run.progress:
                run.progress(1)
    grown = _rss_bytes()
    if grown is not None and rss_before is not None:
        result.memory_bytes[_config_key(variant.precision, config)] = max(grown - rss_before, 0)
    del session
    return measured


def _point(
    variant: Variant,
    config: ServingConfig,
    batch_size: int,
    concurrency: int,
    timing: tuple[list[float], int, float],
    queue_delay_ms: float,
) -> Point:
    """One measured point, with its latency as served (see the module's docstring)."""
    latencies, rows, wall = timing
    p50, p95, p99 = (float(np.percentile(latencies, q)) * 1000 for q in (50, 95, 99))
    delay = queue_delay_ms if batch_size > 1 else 0.0
    return Point(
        provider=config.provider,
        threads=config.intra_op_threads,
        graph_optimization=config.graph_optimization,
        precision=variant.precision,
        batch_size=batch_size,
        concurrency=concurrency,
        cores=config.intra_op_threads * concurrency if config.gpus == 0 else concurrency,
        gpus=config.gpus,
        calls=len(latencies),
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        throughput_rps=rows / wall,
        served_p50_ms=1.5 * p50 + delay,
        served_p99_ms=2 * p99 + delay,
    )


def operating_points(points: list[Point], int8_ok: bool) -> list[tuple[OperatingPoint, Point]]:
    return [
        (
            OperatingPoint(
                key=p.key,
                cores=p.cores,
                gpus=p.gpus,
                p99_latency_ms=p.served_p99_ms,
                throughput_rps=p.throughput_rps,
                quality_ok=int8_ok or p.precision != "int8",
            ),
            p,
        )
        for p in points
    ]


def recommend(
    result: Profile, slo: SLO | None, *, int8_ok: bool
) -> tuple[Point | None, Point | None]:
    """(the cheapest point meeting the SLO, the closest point when none does)."""
    pairs = operating_points(result.points, int8_ok)
    if not pairs:
        return None, None
    chosen = cheapest_point([op for op, _ in pairs], slo)
    by_key = {op.key: p for op, p in pairs}
    closest = min(
        (op for op, _ in pairs if op.quality_ok),
        key=lambda op: (
            len(slo_shortfalls(op.p99_latency_ms, op.throughput_rps, slo)),
            op.p99_latency_ms,
        ),
        default=None,
    )
    return (
        by_key[chosen.key] if chosen else None,
        by_key[closest.key] if closest else None,
    )


def serving_config(point: Point, result: Profile, queue_delay_ms: float) -> ServingConfig:
    """The recommendation as the server and the audit read it."""
    return ServingConfig(
        provider=point.provider,
        intra_op_threads=point.threads,
        inter_op_threads=1,
        graph_optimization=point.graph_optimization,
        precision=point.precision,
        max_batch_size=point.batch_size,
        max_queue_delay_ms=queue_delay_ms if point.batch_size > 1 else 0.0,
        cores=max(point.cores, 1),
        gpus=point.gpus,
        throughput_rps=round(point.throughput_rps, 1),
        p50_latency_ms=round(point.served_p50_ms, 3),
        p99_latency_ms=round(point.served_p99_ms, 3),
        memory_bytes=result.memory_bytes.get(point.config_key),
    )


def _config_key(precision: str, config: ServingConfig) -> str:
    device = "gpu" if config.gpus else f"{config.intra_op_threads}t"
    return f"{precision} {device} opt={config.graph_optimization}"


def _tile(sample: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    out = {}
    for name, values in sample.items():
        reps = -(-rows // len(values))
        out[name] = np.ascontiguousarray(np.concatenate([values] * reps)[:rows])
    return out


def _measure(
    session: Any, inputs: dict[str, np.ndarray], concurrency: int, seconds: float
) -> tuple[list[float], int, float]:
    """Per-call latencies, rows done and wall time, with ``concurrency`` callers at once."""
    rows = len(next(iter(inputs.values())))
    try:
        for _ in range(3):  # warm-up: first calls allocate arenas and pick kernels
            session.run(None, inputs)
    except Exception as exc:
        raise ModelCrashed(f"the model failed while being profiled ({first_line(exc)})") from None
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[BaseException] = []
    start = time.perf_counter()
    deadline = start + seconds

    def caller(mine: list[float]) -> None:
        try:
            while True:
                t0 = time.perf_counter()
                session.run(None, inputs)
                t1 = time.perf_counter()
                mine.append(t1 - t0)
                if t1 >= deadline:
                    return
        except Exception as exc:
            errors.append(exc)

    if concurrency == 1:
        caller(latencies[0])
    else:
        threads = [threading.Thread(target=caller, args=(lat,)) for lat in latencies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - start
    if errors:
        raise ModelCrashed(f"the model failed while being profiled ({first_line(errors[0])})")
    flat = [x for lat in latencies for x in lat]
    return flat, rows * len(flat), wall


def _rss_bytes() -> int | None:
    """Resident memory of this process (Linux); None where it cannot be read."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")

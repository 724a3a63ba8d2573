"""The serving benchmark's tables (Markdown, as bench/README.md records them)."""

from __future__ import annotations

from dataclasses import dataclass

from serving.run import Measured


@dataclass(frozen=True)
class Step:
    server: str  # baton, naive-def, naive-async, bare, baton-workers, workers-1, grpc, grpc-rest
    model: str
    concurrency: int
    measured: Measured
    pinning: str


Ceilings = dict[str, tuple[float, float, int]]


def tables(
    steps: list[Step], ceilings: Ceilings, models: list[str], cs: list[int], workers: int
) -> str:
    by = {(s.server, s.model, s.concurrency): s for s in steps}
    parts = [
        naive_table(by, ceilings, models, cs),
        bare_table(by, models, cs),
        workers_table(by, models, cs, workers),
        grpc_table(by, models, cs),
    ]
    failed = sum(s.measured.errors for s in steps)
    pinned = sorted({f"{s.server}: {s.pinning}" for s in steps})
    return "\n\n".join(
        [p for p in parts if p] + ["pinning: " + "; ".join(pinned), f"failed requests: {failed}"]
    )


Index = dict[tuple[str, str, int], Step]


def _rows(
    by: Index, models: list[str], cs: list[int], *servers: str
) -> list[tuple[str, int, list[Step | None]]]:
    rows = []
    for model in models:
        for c in cs:
            found = [by.get((server, model, c)) for server in servers]
            if found[0] is not None and any(s is not None for s in found[1:]):
                rows.append((model, c, found))
    return rows


def naive_table(by: Index, ceilings: Ceilings, models: list[str], cs: list[int]) -> str:
    lines = [
        "| model | c | baton req/s | naive req/s (best of def/async) | ratio | baton p50 ms | "
        "naive p50 ms | p50 diff ms | baton p99 ms | in-process ceiling rows/s (batch 1 / best) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, c, (ours, *naive) in _rows(by, models, cs, "baton", "naive-def", "naive-async"):
        assert ours is not None
        there = [n.measured for n in naive if n is not None]
        best_rps = max(n.rps for n in there)
        best_p50 = min(n.p50_ms for n in there)
        b1, best, size = ceilings[model]
        m = ours.measured
        lines.append(
            f"| {model} | {c} | {m.rps:,.0f} | {best_rps:,.0f} | {m.rps / best_rps:.2f}x | "
            f"{m.p50_ms:.2f} | {best_p50:.2f} | {m.p50_ms - best_p50:+.2f} | {m.p99_ms:.2f} | "
            f"{b1:,.0f} / {best:,.0f} (batch {size}) |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def bare_table(by: Index, models: list[str], cs: list[int]) -> str:
    lines = [
        "| model | c | baton req/s | bare uvloop+httptools req/s | baton's share | "
        "baton p50 ms | bare p50 ms | server µs/req baton / bare | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model, c, (ours, bare) in _rows(by, models, cs, "baton", "bare"):
        assert ours is not None and bare is not None
        m, b = ours.measured, bare.measured
        lines.append(
            f"| {model} | {c} | {m.rps:,.0f} | {b.rps:,.0f} | {m.rps / b.rps:.0%} | "
            f"{m.p50_ms:.2f} | {b.p50_ms:.2f} | {m.server_us:.0f} / {b.server_us:.0f} | "
            f"{m.load:.1f} / {b.load:.1f} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def workers_table(by: Index, models: list[str], cs: list[int], workers: int) -> str:
    lines = [
        f"| model | c | 1 worker req/s | {workers} workers req/s | scaling | "
        f"target 0.8 x {workers} | {workers} workers p99 ms | server µs/req 1 / {workers} | "
        f"load | pinning of the {workers} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, c, (one, many) in _rows(by, models, cs, "workers-1", "baton-workers"):
        assert one is not None and many is not None
        o, m = one.measured, many.measured
        lines.append(
            f"| {model} | {c} | {o.rps:,.0f} | {m.rps:,.0f} | {m.rps / o.rps:.2f}x | "
            f"{0.8 * workers:.1f}x | {m.p99_ms:.2f} | {o.server_us:.0f} / {m.server_us:.0f} | "
            f"{o.load:.1f} / {m.load:.1f} | {many.pinning} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def grpc_table(by: Index, models: list[str], cs: list[int]) -> str:
    lines = [
        "| model | c | REST req/s (wrk, c conn.) | gRPC req/s (h2load, 1 conn.) | gRPC / REST | "
        "p50 ms REST / gRPC | p99 ms REST / gRPC | server µs/req REST / gRPC | "
        "client CPU REST / gRPC | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, c, (rest, grpc) in _rows(by, models, cs, "grpc-rest", "grpc"):
        assert rest is not None and grpc is not None
        r, g = rest.measured, grpc.measured
        lines.append(
            f"| {model} | {c} | {r.rps:,.0f} | {g.rps:,.0f} | {g.rps / r.rps:.2f}x | "
            f"{r.p50_ms:.2f} / {g.p50_ms:.2f} | {r.p99_ms:.2f} / {g.p99_ms:.2f} | "
            f"{r.server_us:.0f} / {g.server_us:.0f} | {r.client_cpu:.2f} / {g.client_cpu:.2f} | "
            f"{r.load:.1f} / {g.load:.1f} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""

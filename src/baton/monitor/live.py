"""Traffic, p99 latency and errors of running servers: from Prometheus, or from each server.

The dashboard's serving page shows these for every server the store records. Where a
Prometheus is configured it answers for all servers in three queries over the last five
minutes; otherwise each server's own ``/metrics`` is read, which gives counts since the
server started (rates are then averages over its uptime). A server that cannot be reached
is shown as such, never as zero traffic.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import httpx
from prometheus_client.parser import text_string_to_metric_families

from baton.core.metric_names import REQUEST_DURATION, REQUESTS_TOTAL
from baton.errors import BatonError

Source = Literal["prometheus", "metrics", "unreachable"]
WINDOW = "5m"
PROCESS_START = "process_start_time_seconds"


@dataclass(frozen=True)
class ModelTraffic:
    model: str
    version: str
    rps: float | None  # requests per second (window or uptime average)
    requests: float | None  # total since start (/metrics only)
    errors: float | None  # 5xx per second
    p99_ms: float | None

    @property
    def error_share(self) -> float | None:
        if self.rps is None or self.errors is None or self.rps <= 0:
            return None
        return self.errors / self.rps


@dataclass(frozen=True)
class ServerTraffic:
    address: str
    source: Source
    models: list[ModelTraffic] = field(default_factory=list)
    problem: str | None = None


def _is_error(code: str) -> bool:
    return code.startswith("5")


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """Prometheus's histogram_quantile over cumulative (upper bound, count) buckets."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if bound == float("inf"):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def from_metrics(address: str, timeout: float = 2.0, now: float | None = None) -> ServerTraffic:
    """One server's counters from its own ``/metrics`` (totals since it started)."""
    try:
        response = httpx.get(f"http://{address}/metrics", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return ServerTraffic(address, "unreachable", problem=f"cannot read /metrics ({exc})")
    totals: dict[tuple[str, str], float] = {}
    errors: dict[tuple[str, str], float] = {}
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = {}
    started: float | None = None
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            key = (s.labels.get("model", ""), s.labels.get("version", ""))
            if s.name == REQUESTS_TOTAL:
                totals[key] = totals.get(key, 0.0) + s.value
                if _is_error(s.labels.get("code", "")):
                    errors[key] = errors.get(key, 0.0) + s.value
            elif s.name == f"{REQUEST_DURATION}_bucket":
                buckets.setdefault(key, []).append((float(s.labels["le"]), s.value))
            elif s.name == PROCESS_START:
                started = s.value
    uptime = (now or time.time()) - started if started else None

    def per_s(count: float) -> float | None:
        return count / uptime if uptime and uptime > 0 else None

    rows = []
    for key in sorted(totals.keys() | buckets.keys()):
        total = totals.get(key, 0.0)
        p99 = quantile(buckets.get(key, []), 0.99)
        rows.append(
            ModelTraffic(
                key[0],
                key[1],
                rps=per_s(total),
                requests=total,
                errors=per_s(errors.get(key, 0.0)),
                p99_ms=None if p99 is None else 1000 * p99,
            )
        )
    return ServerTraffic(address, "metrics", rows)


def from_prometheus(
    url: str, addresses: Sequence[str], timeout: float = 3.0
) -> dict[str, ServerTraffic]:
    """Every server's last five minutes in three queries; a failure marks all unreachable."""
    from baton.audit.prometheus import Prometheus

    by = "instance, model, version"
    queries = {
        "rps": f"sum by ({by}) (rate({REQUESTS_TOTAL}[{WINDOW}]))",
        "errors": f'sum by ({by}) (rate({REQUESTS_TOTAL}{{code=~"5.."}}[{WINDOW}]))',
        "p99": f"histogram_quantile(0.99, sum by ({by}, le) "
        f"(rate({REQUEST_DURATION}_bucket[{WINDOW}])))",
    }
    values: dict[str, dict[tuple[str, str, str], float]] = {}
    try:
        with Prometheus(url, timeout) as prometheus:
            now = time.time()
            for name, query in queries.items():
                values[name] = {
                    (
                        labels.get("instance", ""),
                        labels.get("model", ""),
                        labels.get("version", ""),
                    ): v
                    for labels, v in prometheus.instant(query, now)
                }
    except BatonError as exc:
        return {a: ServerTraffic(a, "unreachable", problem=exc.message) for a in addresses}
    out = {}
    for address in addresses:
        keys = sorted({k for v in values.values() for k in v if k[0] == address})
        rows = [
            ModelTraffic(
                k[1],
                k[2],
                rps=values["rps"].get(k),
                requests=None,
                errors=values["errors"].get(k, 0.0),
                p99_ms=_ms(values["p99"].get(k)),
            )
            for k in keys
        ]
        out[address] = ServerTraffic(address, "prometheus", rows)
    return out


def _ms(seconds: float | None) -> float | None:
    if seconds is None or seconds != seconds:  # NaN: no requests in the window
        return None
    return 1000 * seconds


def traffic(
    addresses: Sequence[str], prometheus_url: str | None, timeout: float = 2.0
) -> dict[str, ServerTraffic]:
    """Each server's traffic: from Prometheus when one is configured, else from itself."""
    if not addresses:
        return {}
    if prometheus_url:
        return from_prometheus(prometheus_url, addresses, timeout)
    with ThreadPoolExecutor(max_workers=min(16, len(addresses))) as pool:
        found = pool.map(lambda a: from_metrics(a, timeout), addresses)
        return {t.address: t for t in found}

"""What the canary judge reads: one interval's counts of two variants, from Prometheus.

The controller has Prometheus scrape each ``baton serve`` process with a label naming its
variant (``variant="baseline|canary|stable"``); a ``Selector`` is the label matchers that
pick one variant's series (the variant, and the model: a server also counts requests for
models it does not serve). For each variant the judge needs, over ``[start, end]``:

- requests and 5xx, from ``baton_requests_total`` (499 and 408 are requests that got no
  answer: not counted);
- every request's latency bucket, from ``baton_request_duration_seconds_bucket``;
- every served output row's bin, from ``baton_output_bin_total``;
- non-finite output rows, from ``baton_nonfinite_outputs_total``.

How: two instant queries a variant (every series of the four counters, at ``start`` and
at ``end``), and per series the difference of the two values, summed client-side. That
counts exactly the events between the last scrape at or before ``start`` and the last at
or before ``end``, in whole numbers. ``increase(x[window])`` would extrapolate each
series to the window's edges: with a one-second scrape and a ten-second window it counts
up to 10 % more requests than were served, which the rank and exact tests would take for
real evidence. A counter that went down restarted with its process: its value at ``end``
is what the new process counted. A series born in the interval counts from 0; one gone
stale by ``end`` (its process stopped) is not counted.

Prometheus unreachable, too slow, or refusing a query is ``MetricsUnreadable``, and
``judge_interval`` turns it into a ``pause`` verdict: no data is never read as good data.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from baton.audit.prometheus import InstantResult, Prometheus
from baton.core import metric_names as names
from baton.core.canary_judge import (
    Histogram,
    IntervalCounts,
    JudgeConfig,
    OutputHistogram,
    VariantCounts,
    Verdict,
    judge,
    unreadable,
)
from baton.errors import BadInput, BatonError, Unavailable

BUCKETS = f"{names.REQUEST_DURATION}_bucket"
FAMILIES = (names.REQUESTS_TOTAL, BUCKETS, names.OUTPUT_BINS, names.NONFINITE_OUTPUTS)
NO_ANSWER = {str(names.CLIENT_CLOSED), str(names.REQUEST_TIMEOUT)}
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

SeriesKey = tuple[tuple[str, str], ...]


class MetricsUnreadable(Unavailable):
    """The interval's counts could not be read: the controller pauses, never judges."""


@dataclass(frozen=True)
class Selector:
    """Equality matchers picking one variant's series, as ``{variant="canary",model="m"}``."""

    labels: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, **labels: str) -> Selector:
        return cls(tuple(sorted(labels.items())))

    def __post_init__(self) -> None:
        bad = [name for name, _ in self.labels if not _LABEL.fullmatch(name)]
        if bad or not self.labels:
            raise BadInput(
                f"a variant selector needs label names like variant or model, got {bad or 'none'}"
            )

    def promql(self, *extra: str) -> str:
        matchers = [*extra, *(f'{k}="{_escape(v)}"' for k, v in self.labels)]
        return "{" + ",".join(matchers) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_query(selector: Selector) -> str:
    """Every series of the four counters the judge reads, for one variant."""
    return selector.promql(f'__name__=~"{"|".join(FAMILIES)}"')


def deltas(at_start: InstantResult, at_end: InstantResult) -> list[tuple[dict[str, str], float]]:
    """Per series, what it counted between the two instants (see the module docstring)."""
    before = {_key(labels): value for labels, value in at_start}
    out = []
    for labels, value in at_end:
        old = before.get(_key(labels))
        grown = value if old is None or value < old else value - old
        out.append((labels, grown))
    return out


def _key(labels: Mapping[str, str]) -> SeriesKey:
    return tuple(sorted(labels.items()))


def variant_counts(
    series: Iterable[tuple[dict[str, str], float]], error_codes: str
) -> VariantCounts:
    """The judge's input for one variant from its series' counts over the interval."""
    errors_pattern = re.compile(error_codes)
    requests: float | None = None
    errors = 0.0
    nonfinite: float | None = None
    buckets: dict[float, float] = defaultdict(float)
    bins: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in series:
        name = labels.get("__name__")
        if name == names.REQUESTS_TOTAL:
            code = labels.get("code", "")
            if code not in NO_ANSWER:
                requests = (requests or 0.0) + value
                errors += value if errors_pattern.fullmatch(code) else 0.0
        elif name == BUCKETS:
            buckets[float(labels["le"])] += value
        elif name == names.OUTPUT_BINS:
            bins[labels["output"]][float(labels["bin"])] += value
        elif name == names.NONFINITE_OUTPUTS:
            nonfinite = (nonfinite or 0.0) + value
    return VariantCounts(
        requests=requests,
        errors=errors if requests is not None else None,
        latency=_from_cumulative(buckets) if buckets else None,
        outputs=tuple(
            OutputHistogram(output, _histogram(per_bin)) for output, per_bin in sorted(bins.items())
        ),
        nonfinite=nonfinite,
    )


def _from_cumulative(cumulative: Mapping[float, float]) -> Histogram:
    """Per-bin counts from a Prometheus histogram's cumulative ``le`` buckets."""
    bounds = sorted(cumulative)
    counts, below = [], 0.0
    for bound in bounds:
        counts.append(max(cumulative[bound] - below, 0.0))
        below = max(below, cumulative[bound])
    return Histogram(tuple(bounds), tuple(counts))


def _histogram(per_bin: Mapping[float, float]) -> Histogram:
    bounds = sorted(per_bin)
    return Histogram(tuple(bounds), tuple(per_bin[b] for b in bounds))


def read_variant(
    prometheus: Prometheus,
    selector: Selector,
    start: float,
    end: float,
    *,
    error_codes: str = r"5..",
) -> VariantCounts:
    """One variant's counts over ``[start, end]`` (unix seconds)."""
    if not end > start:
        raise BadInput(f"an interval must end after it starts, got {start} .. {end}")
    query = series_query(selector)
    try:
        at_start = prometheus.instant(query, start)
        at_end = prometheus.instant(query, end)
    except BatonError as exc:
        raise MetricsUnreadable(exc.message) from None
    return variant_counts(deltas(at_start, at_end), error_codes)


def read_interval(
    prometheus: Prometheus,
    canary: Selector,
    baseline: Selector,
    start: float,
    end: float,
    *,
    error_codes: str = r"5..",
) -> IntervalCounts:
    """Both variants' counts over ``[start, end]``: what ``core.canary_judge.judge`` takes."""
    return IntervalCounts(
        canary=read_variant(prometheus, canary, start, end, error_codes=error_codes),
        baseline=read_variant(prometheus, baseline, start, end, error_codes=error_codes),
        start=start,
        end=end,
    )


def judge_interval(
    prometheus: Prometheus,
    canary: Selector,
    baseline: Selector,
    start: float,
    end: float,
    config: JudgeConfig | None = None,
    *,
    error_codes: str = r"5..",
) -> Verdict:
    """Read and judge one interval; unreadable metrics are a ``pause`` verdict."""
    try:
        interval = read_interval(prometheus, canary, baseline, start, end, error_codes=error_codes)
    except MetricsUnreadable as exc:
        return unreadable(exc.message, start, end)
    return judge(interval, config)

"""The canary judge: one interval's counts of a canary and its baseline in, a decision out.

Kayenta's recipe (``shared/notes/deploy.md`` §3, §B): a baseline copy of the current
version gets the same traffic as the canary, and each interval every metric compares the
two and is classified pass / high / low / nodata / error:

- ``errors``: one-sided Fisher exact test of the 5xx counts; High only when p <
  ``error_alpha`` *and* the canary's error rate exceeds the baseline's by more than
  ``error_min_effect``;
- ``latency``: Hodges-Lehmann shift of the request durations, every request of the
  interval read from the two ``baton_request_duration_seconds`` histograms, with its
  rank-sum interval at ``confidence`` (``core.judge_stats``); High when the interval's
  lower bound exceeds the allowed increase (``latency_allowed_ratio`` of the baseline's
  median, at least ``latency_floor_s``), Low when its upper bound is below minus that
  (Kayenta asks the bound to clear ``0.25 * |HL|`` and the mean ratio to reach the allowed
  increase; one margin on the bound does both, and a 10 % slower median with a bound just
  above zero passes, where Kayenta's mean ratio could fail it on a few slow requests);
- ``output``: each served output's bins (``baton_output_bin_total``), adjacent bins pooled
  until each expects 5 rows a side, then a G-test of homogeneity at ``output_alpha``
  (Bonferroni over the outputs), its p-value exact (Monte-Carlo over tables with the same
  margins, seeded) where the chi-square one is small, *and* a Jensen-Shannon divergence
  of the pooled bins of at least ``output_min_effect``, so a million requests do not fail
  a harmless difference. Without the pooling and the exact p-value, sparse bins (many
  bins, few rows) failed equal versions in 13 % of intervals (``judge_stats.homogeneity``).

Guardrails look at the canary alone and are critical (roll back at once): its success
rate below ``success_rate_min``, its p99 above ``p99_slo_s``, any non-finite output. The
first two are counts of bad requests, so each also needs a one-sided exact binomial test
at ``guard_alpha`` that more than 1 % are bad (one 5xx among the first fifty requests is
no proof of a 98 % success rate); the non-finite guardrail needs none: one NaN served is
one too many.

The score is Kayenta's ``WeightedSumScorer``: a metric that passes scores 100 for its
weight, one that fails (high, error; low where a decrease is bad) 0, and one without data
100, unless half the metrics or more have none, which scores 0; a critical guardrail
scores 0. Score >= ``pass_score`` advances, >= ``marginal_score`` holds and counts a failed
check, below fails (a failed check too); a critical guardrail rolls back. "No data" never
promotes: below ``min_requests`` on either side the interval holds without counting a
failed check, so stopped traffic waits for the controller's deadline.

Error rates. Equal versions fail an interval with probability at most the sum of the
comparisons' levels, 1 % (latency: one side of a 98 % interval) + 0.5 % + 0.5 % = 2 %,
plus the guardrails' 0.1 % where the versions themselves are near their limits; measured
on 1,000 simulated intervals of 200 to 2,000 requests: 0.4 %, and with 50 to 200 sparse
output bins and 20 to 500 requests: 0.3 %, the output metric 0.3 % against its 0.5 %
(``tests/core/test_canary_judge_rates.py``). Shifts are caught *beyond* the gates: a
version exactly at a gate is what the configuration allows, so it is failed rarely by
design; the same simulations catch +2 pp of errors (1,000 to 2,000 requests), +5 pp (200
to 1,000), three times the latency allowance, and outputs 0.03 bits (JS) apart in at least
95 % of intervals (over sparse bins from 500 rows a side: fewer cannot show so small a
shift at the output's level).

Pure: no I/O; ``rollout.judge_queries`` reads the counts from Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal

from baton.core import judge_stats as stats
from baton.errors import BadInput

Classification = Literal["pass", "high", "low", "nodata", "error"]
Decision = Literal["advance", "hold", "fail", "rollback", "pause"]
Profile = Literal["production", "test"]
Direction = Literal["increase", "either"]

ERRORS, LATENCY, OUTPUT = "errors", "latency", "output"
SUCCESS_RATE, P99, NONFINITE = "success_rate", "p99", "nonfinite"


@dataclass(frozen=True)
class JudgeConfig:
    """What the judge allows; the defaults are the notes' production profile (§B)."""

    confidence: float = 0.98  # Kayenta MannWhitneyClassifier confLevel: 1 % false highs
    error_alpha: float = 0.005  # Fisher, one-sided
    output_alpha: float = 0.005  # G-test, shared among the outputs (Bonferroni)
    guard_alpha: float = 0.001  # the guardrails' binomial tests: a rollback is drastic
    min_requests: int = 200  # per variant and interval; fewer: no data, hold
    error_min_effect: float = 0.005  # +0.5 percentage points of 5xx
    latency_allowed_ratio: float = 1.1  # Kayenta effectSize.allowedIncrease example
    latency_floor_s: float = 0.001  # never fail a shift under a millisecond
    output_min_effect: float = 0.02  # Jensen-Shannon (bits); about PSI 0.1
    success_rate_min: float = 0.99  # Flagger request-success-rate min 99
    p99_slo_s: float = 0.5  # Flagger request-duration max 500 ms
    nonfinite_max: int = 0  # non-finite outputs the canary may serve in an interval
    weights: tuple[tuple[str, float], ...] = ((ERRORS, 40.0), (LATENCY, 30.0), (OUTPUT, 30.0))
    pass_score: float = 95.0  # Kayenta sample config
    marginal_score: float = 75.0

    def __post_init__(self) -> None:
        problems = []
        if not 0.5 < self.confidence < 1:
            problems.append(f"confidence {self.confidence} must lie between 0.5 and 1")
        if not all(0 < a < 0.5 for a in (self.error_alpha, self.output_alpha, self.guard_alpha)):
            problems.append("error_alpha, output_alpha and guard_alpha must lie in (0, 0.5)")
        if self.min_requests < 1:
            problems.append("min_requests must be at least 1")
        if self.latency_allowed_ratio < 1 or self.latency_floor_s < 0:
            problems.append("latency_allowed_ratio must be 1 or more, latency_floor_s >= 0")
        if self.error_min_effect < 0 or self.output_min_effect < 0:
            problems.append("minimum effects cannot be negative")
        if not 0 < self.success_rate_min < 1 or self.p99_slo_s <= 0 or self.nonfinite_max < 0:
            problems.append("success_rate_min must lie in (0, 1), p99_slo_s above 0")
        if {name for name, _ in self.weights} != {ERRORS, LATENCY, OUTPUT}:
            problems.append(f"weights must name {ERRORS}, {LATENCY} and {OUTPUT}")
        elif abs(sum(w for _, w in self.weights) - 100) > 1e-9:
            problems.append("weights must add up to 100")
        if not 0 <= self.marginal_score <= self.pass_score <= 100:
            problems.append("scores must satisfy 0 <= marginal <= pass <= 100")
        if problems:
            raise BadInput("canary judge: " + "; ".join(problems))

    @classmethod
    def profile(cls, name: Profile, **overrides: object) -> JudgeConfig:
        """``production`` (the defaults) or ``test``: 30 requests an interval are enough, for
        the integration tests' short intervals; the gates stay as they are."""
        if name not in ("production", "test"):
            raise BadInput(f"unknown judge profile {name!r}: use production or test")
        base = cls() if name == "production" else cls(min_requests=30)
        return replace(base, **overrides)  # type: ignore[arg-type]


# --- what the judge reads ------------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Counts per bin over the interval (not cumulative); ``upper_bounds`` rise and end with
    ``inf``, as a Prometheus histogram's ``le`` labels."""

    upper_bounds: tuple[float, ...]
    counts: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.upper_bounds) != len(self.counts) or not self.counts:
            raise BadInput("a histogram needs one count per bin, and at least one bin")

    @property
    def total(self) -> float:
        return float(sum(self.counts))


@dataclass(frozen=True)
class OutputHistogram:
    """One served output feature's bins (``baton_output_bin_total``) over the interval."""

    output: str
    histogram: Histogram


@dataclass(frozen=True)
class VariantCounts:
    """One variant's counts over the interval; None where Prometheus has no series."""

    requests: float | None = None  # answered requests (no 499/408)
    errors: float | None = None  # of which 5xx
    latency: Histogram | None = None  # baton_request_duration_seconds
    outputs: tuple[OutputHistogram, ...] = ()
    nonfinite: float | None = None  # baton_nonfinite_outputs_total


@dataclass(frozen=True)
class IntervalCounts:
    canary: VariantCounts
    baseline: VariantCounts
    start: float = 0.0  # unix seconds, kept in the record
    end: float = 0.0


# --- what the judge says -------------------------------------------------------------


@dataclass(frozen=True)
class MetricResult:
    """One metric's classification with every number it was made from."""

    name: str
    classification: Classification
    reason: str
    critical: bool = False  # a guardrail: high means roll back at once
    n_canary: int = 0
    n_baseline: int = 0
    statistic: float | None = None  # z of the rank sum, G, the canary's count...
    p_value: float | None = None
    ci: tuple[float, float] | None = None
    estimate: float | None = None  # HL shift (s), error-rate difference, p99 (s)...
    effect: float | None = None  # what is held against ``threshold``
    threshold: float | None = None
    parts: tuple[MetricResult, ...] = ()  # the output metric's per-output tests

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "classification": self.classification,
            "critical": self.critical,
            "reason": self.reason,
            "n_canary": self.n_canary,
            "n_baseline": self.n_baseline,
            "statistic": _number(self.statistic),
            "p_value": _number(self.p_value),
            "ci": None if self.ci is None else [_number(v) for v in self.ci],
            "estimate": _number(self.estimate),
            "effect": _number(self.effect),
            "threshold": _number(self.threshold),
        }
        if self.parts:
            out["parts"] = [p.to_json() for p in self.parts]
        return out


@dataclass(frozen=True)
class Verdict:
    """An interval's judgement: what the controller does, why, and the numbers."""

    decision: Decision
    score: float
    failed_check: bool  # counts toward the controller's threshold of failed checks
    reason: str
    metrics: tuple[MetricResult, ...] = ()
    guardrails: tuple[MetricResult, ...] = ()
    start: float = 0.0
    end: float = 0.0

    def metric(self, name: str) -> MetricResult:
        found = [m for m in (*self.metrics, *self.guardrails) if m.name == name]
        if not found:
            raise KeyError(name)
        return found[0]

    def to_json(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "score": _number(self.score),
            "failed_check": self.failed_check,
            "reason": self.reason,
            "start": self.start,
            "end": self.end,
            "metrics": [m.to_json() for m in self.metrics],
            "guardrails": [m.to_json() for m in self.guardrails],
        }


def _number(value: float | None) -> float | str | None:
    """JSON has no infinity: an unbounded interval end is written "inf" / "-inf"."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


# --- the comparisons -----------------------------------------------------------------


def _too_few(name: str, canary: float | None, baseline: float | None, need: int) -> MetricResult:
    c, b = int(canary or 0), int(baseline or 0)
    if canary is None or baseline is None:
        side = "canary" if canary is None else "baseline"
        return MetricResult(
            name, "nodata", f"no {name} series for the {side}", n_canary=c, n_baseline=b
        )
    return MetricResult(
        name,
        "nodata",
        f"{c} canary and {b} baseline requests, {need} needed on each side",
        n_canary=c,
        n_baseline=b,
    )


def classify_errors(c: VariantCounts, b: VariantCounts, config: JudgeConfig) -> MetricResult:
    """5xx counts: one-sided Fisher exact test with a minimum difference of rates."""
    if (
        c.requests is None
        or b.requests is None
        or min(c.requests, b.requests) < config.min_requests
    ):
        return _too_few(ERRORS, c.requests, b.requests, config.min_requests)
    nc, nb = round(c.requests), round(b.requests)
    ec, eb = min(round(c.errors or 0), nc), min(round(b.errors or 0), nb)
    p = stats.fisher_greater(ec, nc, eb, nb)
    diff = ec / nc - eb / nb
    high = p < config.error_alpha and diff > config.error_min_effect
    rates = f"5xx {ec}/{nc} = {ec / nc:.2%} against {eb}/{nb} = {eb / nb:.2%}"
    if high:
        reason = f"{rates}: +{diff:.2%} (> {config.error_min_effect:.2%}), Fisher p = {p:.2g}"
    elif p < config.error_alpha:
        reason = f"{rates}: significant (p = {p:.2g}) but under +{config.error_min_effect:.2%}"
    else:
        reason = f"{rates}: Fisher p = {p:.2g}"
    return MetricResult(
        ERRORS,
        "high" if high else "pass",
        reason,
        n_canary=nc,
        n_baseline=nb,
        statistic=float(ec),
        p_value=p,
        estimate=diff,
        effect=diff,
        threshold=config.error_min_effect,
    )


def classify_latency(c: VariantCounts, b: VariantCounts, config: JudgeConfig) -> MetricResult:
    """Hodges-Lehmann shift of request durations, its interval against the allowed one."""
    nc = c.latency.total if c.latency else None
    nb = b.latency.total if b.latency else None
    if c.latency is None or b.latency is None or min(nc or 0, nb or 0) < config.min_requests:
        return _too_few(LATENCY, nc, nb, config.min_requests)
    if c.latency.upper_bounds != b.latency.upper_bounds:
        return MetricResult(
            LATENCY,
            "error",
            "the two variants' latency buckets differ",
            n_canary=int(nc or 0),
            n_baseline=int(nb or 0),
        )
    bounds = c.latency.upper_bounds
    shift = stats.rank_shift(
        stats.Grouped.histogram(bounds, c.latency.counts),
        stats.Grouped.histogram(bounds, b.latency.counts),
        config.confidence,
    )
    median = stats.bin_quantile(bounds, b.latency.counts, 0.5) or 0.0
    allowed = max((config.latency_allowed_ratio - 1) * median, config.latency_floor_s)
    if shift is None:  # pragma: no cover - both totals are at least min_requests
        return MetricResult(LATENCY, "nodata", "no requests", threshold=allowed)
    classification: Classification = "pass"
    if shift.lower > allowed:
        classification = "high"
    elif shift.upper < -allowed:
        classification = "low"
    ms = 1000.0
    reason = (
        f"shift {shift.estimate * ms:+.3g} ms, {config.confidence:.0%} interval "
        f"[{shift.lower * ms:+.3g}, {shift.upper * ms:+.3g}] ms, allowed ±{allowed * ms:.3g} ms "
        f"(baseline median {median * ms:.3g} ms)"
    )
    return MetricResult(
        LATENCY,
        classification,
        reason,
        n_canary=shift.canary,
        n_baseline=shift.baseline,
        statistic=shift.z_at_zero,
        p_value=shift.p_greater,
        ci=(shift.lower, shift.upper),
        estimate=shift.estimate,
        effect=shift.estimate / median if median > 0 else None,
        threshold=allowed,
    )


def classify_output(c: VariantCounts, b: VariantCounts, config: JudgeConfig) -> MetricResult:
    """Each output's bins: G-test (Bonferroni over outputs) and a minimum JS divergence."""
    theirs = {o.output: o.histogram for o in b.outputs}
    shared = [(o.output, o.histogram, theirs[o.output]) for o in c.outputs if o.output in theirs]
    comparable = [s for s in shared if s[1].upper_bounds == s[2].upper_bounds]
    rows_c = max((s[1].total for s in comparable), default=None if not c.outputs else 0.0)
    rows_b = max((s[2].total for s in comparable), default=None if not b.outputs else 0.0)
    if shared and not comparable:
        return MetricResult(
            OUTPUT,
            "nodata",
            "the variants bin their outputs differently: serve both with "
            "the same --output-bins-from version",
        )
    if not comparable or min(rows_c or 0, rows_b or 0) < config.min_requests:
        return _too_few(OUTPUT, rows_c, rows_b, config.min_requests)
    level = config.output_alpha / len(comparable)
    parts = tuple(_output_part(name, x, y, level, config) for name, x, y in comparable)
    worst = max(parts, key=lambda p: (p.classification == "high", p.effect or 0.0))
    high = [p.name for p in parts if p.classification == "high"]
    reason = (
        f"{len(high)} of {len(parts)} outputs distributed differently ({', '.join(high)})"
        if high
        else f"{len(parts)} outputs alike (largest JS {worst.effect or 0:.3g} bits)"
    )
    return MetricResult(
        OUTPUT,
        "high" if high else "pass",
        reason,
        n_canary=int(rows_c or 0),
        n_baseline=int(rows_b or 0),
        statistic=worst.statistic,
        p_value=worst.p_value,
        effect=worst.effect,
        threshold=config.output_min_effect,
        parts=parts,
    )


def _output_part(
    name: str, canary: Histogram, baseline: Histogram, level: float, config: JudgeConfig
) -> MetricResult:
    """One output: adjacent bins pooled until each expects 5 rows a side, then the G-test,
    exact (Monte-Carlo, seeded) where its p-value is small (``judge_stats.homogeneity``):
    sparse bins no longer fail equal versions. Enough draws that a clear shift's p-value,
    ``1 / (1 + draws)``, lies under the level."""
    test = stats.homogeneity(canary.counts, baseline.counts, draws=math.ceil(10 / level))
    high = test.p_value < level and test.js >= config.output_min_effect
    pooled = f" ({test.bins} bins pooled to {test.df + 1})" if test.bins > test.df + 1 else ""
    exact = f", exact from {test.draws} tables" if test.draws else ""
    reason = (
        f"G = {test.statistic:.3g} on {test.df} df{pooled}, p = {test.p_value:.2g}{exact} "
        f"(level {level:.2g}), JS {test.js:.3g} bits (min {config.output_min_effect:g}), "
        f"PSI {test.psi:.3g}"
    )
    return MetricResult(
        f"{OUTPUT}:{name}",
        "high" if high else "pass",
        reason,
        n_canary=int(canary.total),
        n_baseline=int(baseline.total),
        statistic=test.statistic,
        p_value=test.p_value,
        estimate=test.psi,
        effect=test.js,
        threshold=config.output_min_effect,
    )


# --- the guardrails ------------------------------------------------------------------


def guard_success_rate(c: VariantCounts, config: JudgeConfig) -> MetricResult:
    """Critical: the canary's success rate under the minimum, beyond chance."""
    if not c.requests:
        return MetricResult(SUCCESS_RATE, "nodata", "no canary requests", critical=True)
    n = round(c.requests)
    errors = min(round(c.errors or 0), n)
    rate = 1 - errors / n
    p = stats.binomial_greater(errors, n, 1 - config.success_rate_min)
    breached = rate < config.success_rate_min and p < config.guard_alpha
    reason = (
        f"success {n - errors}/{n} = {rate:.2%} (min {config.success_rate_min:.0%}, p = {p:.2g})"
    )
    return _guard(SUCCESS_RATE, breached, reason, n, errors, p, rate, config.success_rate_min)


def _guard(
    name: str,
    breached: bool,
    reason: str,
    n: int,
    bad: int,
    p: float,
    value: float,
    threshold: float,
) -> MetricResult:
    """A guardrail's result: ``bad`` of ``n`` requests, the value held against its limit."""
    return MetricResult(
        name, "high" if breached else "pass", reason, critical=True, n_canary=n,
        statistic=float(bad), p_value=p, estimate=value, effect=value, threshold=threshold,
    )  # fmt: skip


def guard_p99(c: VariantCounts, config: JudgeConfig) -> MetricResult:
    """Critical: the canary's p99 above the SLO, more than 1 % of requests beyond chance."""
    if c.latency is None or c.latency.total <= 0:
        return MetricResult(P99, "nodata", "no canary latency", critical=True)
    n = round(c.latency.total)
    bounds, counts = c.latency.upper_bounds, c.latency.counts
    p99 = stats.bin_quantile(bounds, counts, 0.99) or 0.0
    above = round(stats.count_above(bounds, counts, config.p99_slo_s))
    p = stats.binomial_greater(above, n, 0.01)
    breached = p99 > config.p99_slo_s and p < config.guard_alpha
    reason = (
        f"p99 {p99 * 1000:.4g} ms (SLO {config.p99_slo_s * 1000:g} ms): {above} of {n} "
        f"requests above it, p = {p:.2g}"
    )
    return _guard(P99, breached, reason, n, above, p, p99, config.p99_slo_s)


def guard_nonfinite(c: VariantCounts, config: JudgeConfig) -> MetricResult:
    """Critical: the canary served a NaN or an infinity (counted per output row)."""
    if c.nonfinite is None:
        return MetricResult(NONFINITE, "nodata", "no non-finite output counter", critical=True)
    count = round(c.nonfinite)
    breached = count > config.nonfinite_max
    return MetricResult(
        NONFINITE,
        "high" if breached else "pass",
        f"{count} output rows with NaN or infinity (max {config.nonfinite_max})",
        critical=True,
        statistic=float(count),
        effect=float(count),
        threshold=float(config.nonfinite_max),
    )


# --- scoring and the decision --------------------------------------------------------

DIRECTIONS: dict[str, Direction] = {ERRORS: "increase", LATENCY: "increase", OUTPUT: "either"}
Classifier = Callable[[VariantCounts, VariantCounts, JudgeConfig], MetricResult]
Guard = Callable[[VariantCounts, JudgeConfig], MetricResult]
CLASSIFIERS: tuple[tuple[str, Classifier], ...] = (
    (ERRORS, classify_errors),
    (LATENCY, classify_latency),
    (OUTPUT, classify_output),
)
GUARDS: tuple[tuple[str, Guard], ...] = (
    (SUCCESS_RATE, guard_success_rate),
    (P99, guard_p99),
    (NONFINITE, guard_nonfinite),
)


def failed(result: MetricResult) -> bool:
    """Whether a comparison counts against the score (low only where a decrease is bad)."""
    if result.classification in ("high", "error"):
        return True
    return result.classification == "low" and DIRECTIONS.get(result.name) == "either"


def score(metrics: Sequence[MetricResult], config: JudgeConfig) -> float:
    """Kayenta's weighted sum: 100 per passing weight, nodata counted as passing unless
    half the metrics or more have no data (then 0)."""
    if not metrics or 2 * sum(m.classification == "nodata" for m in metrics) >= len(metrics):
        return 0.0
    weights = dict(config.weights)
    return sum(weights.get(m.name, 0.0) for m in metrics if not failed(m))


def _guarded(name: str, run: Callable[[], MetricResult], critical: bool) -> MetricResult:
    """A metric whose numbers cannot be judged is an error, recorded, not a crash."""
    try:
        return run()
    except (ValueError, ArithmeticError, BadInput) as exc:
        text = exc.message if isinstance(exc, BadInput) else str(exc)
        return MetricResult(name, "error", f"cannot judge: {text}", critical=critical)


def judge(interval: IntervalCounts, config: JudgeConfig | None = None) -> Verdict:
    """Classify every metric and guardrail of one interval, score it and decide."""
    cfg = config or JudgeConfig()
    c, b = interval.canary, interval.baseline
    guards = tuple(_guarded(name, partial(guard, c, cfg), critical=True) for name, guard in GUARDS)
    metrics = tuple(
        _guarded(name, partial(classify, c, b, cfg), critical=False)
        for name, classify in CLASSIFIERS
    )
    verdict = decide(metrics, guards, cfg, c, b)
    return replace(verdict, start=interval.start, end=interval.end)


def decide(
    metrics: tuple[MetricResult, ...],
    guards: tuple[MetricResult, ...],
    config: JudgeConfig,
    canary: VariantCounts,
    baseline: VariantCounts,
) -> Verdict:
    breached = [g for g in guards if g.classification == "high"]
    if breached:
        why = "; ".join(f"{g.name}: {g.reason}" for g in breached)
        return Verdict("rollback", 0.0, True, f"critical: {why}", metrics, guards)
    seen = min(canary.requests or 0, baseline.requests or 0)
    if seen < config.min_requests:
        return Verdict(
            "hold",
            0.0,
            False,
            f"no data: {int(canary.requests or 0)} canary and {int(baseline.requests or 0)} "
            f"baseline requests, {config.min_requests} needed on each side",
            metrics,
            guards,
        )
    total = score(metrics, config)
    bad = [f"{m.name} {m.classification}: {m.reason}" for m in metrics if failed(m)]
    why = "; ".join(bad) or "every metric passed"
    if total >= config.pass_score:
        return Verdict("advance", total, False, f"score {total:g}: {why}", metrics, guards)
    if total >= config.marginal_score:
        return Verdict("hold", total, True, f"marginal score {total:g}: {why}", metrics, guards)
    return Verdict("fail", total, True, f"score {total:g}: {why}", metrics, guards)


def unreadable(reason: str, start: float = 0.0, end: float = 0.0) -> Verdict:
    """The interval could not be read (Prometheus down, a query refused): pause, judge
    nothing, count no failed check; the controller alerts after its error limit."""
    return Verdict("pause", 0.0, False, f"metrics unreadable: {reason}", start=start, end=end)

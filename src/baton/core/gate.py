"""The gate's rules: measured numbers and thresholds in, a verdict with its reasons out.

Pure functions, no I/O: the evaluation service measures, these decide, and the report can
say why. Each check has its own verdict; the gate passes when none of them failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from baton.core.manifest import SLO
from baton.core.policy import HIGHER_IS_BETTER, RegressionPolicy, SanityPolicy, canonical

Directions = Mapping[str, bool | None]  # metric -> higher is better (None: not declared)


@dataclass(frozen=True)
class Verdict:
    """One check's answer; ``skipped`` checks pass and say why they did not run."""

    passed: bool
    reasons: tuple[str, ...] = ()
    skipped: bool = False

    @property
    def status(self) -> str:
        if self.skipped:
            return "skipped"
        return "passed" if self.passed else "failed"


def skipped(reason: str) -> Verdict:
    return Verdict(True, (reason,), skipped=True)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def parity(
    measured: Mapping[str, float | None],
    claimed: Mapping[str, float],
    tolerance: float,
    directions: Directions = HIGHER_IS_BETTER,
) -> Verdict:
    """Research's claimed metrics must be reproduced within ``tolerance`` (absolute).

    A result far *better* than claimed fails too: it usually means the eval data is not
    the held-out set research measured on. A claim under an older name (``recall_at_k``)
    is checked against the metric it names now (``recall_at_5``).
    """
    if not claimed:
        return skipped("the manifest claims no metrics (eval.claimed)")
    failures: list[str] = []
    passes: list[str] = []
    for claim, value in sorted(claimed.items()):
        name = canonical(claim)
        label = claim if name == claim else f"{claim} (now {name})"
        if name not in measured:
            known = ", ".join(sorted(k for k, v in measured.items() if v is not None))
            failures.append(
                f"{label} is claimed but baton does not measure it here (it measures {known}; "
                "a team adds its own metric as a package: see `baton metrics`)"
            )
            continue
        got = measured[name]
        if got is None or not math.isfinite(got):
            failures.append(
                f"{label} could not be measured (non-finite outputs, or the metric failed: "
                "see the report's notes)"
            )
            continue
        line = _parity_line(label, got, value, tolerance)
        higher = directions.get(name)
        if abs(got - value) <= tolerance + 1e-12:
            passes.append(line)
        elif higher is None:
            failures.append(line + ": not reproduced")
        elif (got > value) == higher:
            failures.append(line + ": better than claimed; is the eval data the held-out set?")
        else:
            failures.append(line + ": not reproduced")
    return Verdict(not failures, tuple(failures or passes))


def _parity_line(label: str, got: float, claimed: float, tolerance: float) -> str:
    diff = got - claimed
    shown = 0.0 if abs(diff) < 5e-5 else diff  # no "-0.0000"
    return (
        f"{label} {_fmt(got)} vs claimed {_fmt(claimed)} "
        f"(difference {shown:+.4f}, tolerance {tolerance:g})"
    )


@dataclass(frozen=True)
class MetricDelta:
    """Candidate minus baseline, with a bootstrap confidence interval of that difference."""

    name: str
    candidate: float
    baseline: float
    delta: float
    low: float
    high: float
    higher: bool | None = None  # None: the built-in direction of ``name``

    @property
    def higher_is_better(self) -> bool:
        if self.higher is not None:
            return self.higher
        return HIGHER_IS_BETTER.get(self.name, True)

    @property
    def gain(self) -> tuple[float, float, float]:
        """(point, low, high) of the improvement: positive is better whatever the direction."""
        if self.higher_is_better:
            return self.delta, self.low, self.high
        return -self.delta, -self.high, -self.low


def regression(
    deltas: Sequence[MetricDelta],
    gated: Sequence[str],
    policy: RegressionPolicy,
    agreement: float | None = None,
) -> Verdict:
    """A gated metric regresses when its drop is both material (beyond ``max_drop``) and
    certain (the whole confidence interval lies on the worse side of zero). A small eval
    set gives wide intervals, so noise alone does not fail the gate; a real drop does."""
    failures: list[str] = []
    notes: list[str] = []
    by_name = {d.name: d for d in deltas}
    for name in gated:
        d = by_name.get(name)
        if d is None:
            continue
        gain, _low, high = d.gain
        ci = f"{round(policy.confidence * 100)}% CI [{d.low:+.4f}, {d.high:+.4f}]"
        line = f"{name} {_fmt(d.candidate)} vs {_fmt(d.baseline)} ({d.delta:+.4f}, {ci})"
        if gain < -policy.max_drop and high < 0:
            failures.append(line + ": a real drop")
        elif gain < -policy.max_drop:
            notes.append(line + ": lower, but within noise")
        else:
            notes.append(line)
    if not any(d.name in gated for d in deltas):
        return skipped("no gated metric could be compared with the baseline")
    if agreement is not None:
        line = f"predictions agree with the baseline on {agreement:.1%} of rows"
        if policy.min_agreement is not None and agreement < policy.min_agreement:
            failures.append(line + f" (policy asks for at least {policy.min_agreement:.1%})")
        else:
            notes.append(line)
    return Verdict(not failures, tuple(failures or notes))


@dataclass(frozen=True)
class SanityFacts:
    """What the outputs looked like over the whole eval set."""

    values: int  # output values inspected
    nonfinite: int  # NaN or Inf among them
    probability_error: float | None = None  # max |row sum - 1|; None: not probabilities
    out_of_range: float | None = None  # share outside the reference range; None: no reference
    reference_range: tuple[float, float] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def sanity(facts: SanityFacts, policy: SanityPolicy) -> Verdict:
    """NaN/Inf outputs, probabilities that do not sum to one, outputs outside the range
    the reference produced."""
    failures: list[str] = []
    ok: list[str] = []
    if facts.nonfinite > policy.max_nonfinite:
        failures.append(
            f"{facts.nonfinite} of {facts.values} output values are NaN or Inf "
            f"(allowed: {policy.max_nonfinite})"
        )
    else:
        ok.append(f"all {facts.values} output values are finite")
    if facts.probability_error is not None:
        err = facts.probability_error
        if not math.isfinite(err) or err > policy.probability_tolerance:
            failures.append(
                f"class probabilities do not sum to one (worst row off by {_fmt(err)}, "
                f"tolerance {policy.probability_tolerance:g}): end the model with a softmax"
            )
        else:
            ok.append(f"class probabilities sum to one (worst row off by {_fmt(err)})")
    if facts.out_of_range is not None and facts.reference_range is not None:
        lo, hi = facts.reference_range
        share = facts.out_of_range
        line = f"{share:.2%} of outputs fall outside the reference range [{_fmt(lo)}, {_fmt(hi)}]"
        if share > policy.max_out_of_range:
            failures.append(line + f" (allowed {policy.max_out_of_range:.2%})")
        else:
            ok.append(line)
    return Verdict(not failures, tuple(failures or (*ok, *facts.notes)))


def slo_shortfalls(
    p99_latency_ms: float | None, throughput_rps: float | None, slo: SLO | None
) -> list[str]:
    """How a measured operating point misses the SLO; empty when it meets it."""
    if slo is None:
        return []
    misses: list[str] = []
    if slo.p99_latency_ms is not None and not (
        p99_latency_ms is not None and p99_latency_ms <= slo.p99_latency_ms
    ):
        got = "unmeasured" if p99_latency_ms is None else f"{p99_latency_ms:.2f} ms"
        misses.append(f"p99 latency {got} > SLO {slo.p99_latency_ms:g} ms")
    if slo.min_throughput_rps is not None and not (
        throughput_rps is not None and throughput_rps >= slo.min_throughput_rps
    ):
        got = "unmeasured" if throughput_rps is None else f"{throughput_rps:.0f} rows/s"
        misses.append(f"throughput {got} in-process < SLO {slo.min_throughput_rps:g} req/s")
    return misses


@dataclass(frozen=True)
class OperatingPoint:
    """One profiled configuration, as the gate sees it."""

    key: str
    cores: int
    gpus: int
    p99_latency_ms: float
    throughput_rps: float
    quality_ok: bool = True  # False: e.g. int8 lost too much accuracy


P = TypeVar("P", bound=OperatingPoint)


def cheapest_point(points: Sequence[P], slo: SLO | None) -> P | None:
    """The configuration to recommend: fewest GPUs, then fewest cores, among those that meet
    the SLO with acceptable quality; ties go to the higher throughput. Without an SLO every
    point qualifies, so the cheapest replica is still the answer. (The audit's cheapest
    hardware for a deployment is ``core.rightsizing.cheapest_hardware``.)"""
    fit = [
        p
        for p in points
        if p.quality_ok and not slo_shortfalls(p.p99_latency_ms, p.throughput_rps, slo)
    ]
    if not fit:
        return None
    return min(fit, key=lambda p: (p.gpus, p.cores, -p.throughput_rps, p.p99_latency_ms))


def performance(
    best: OperatingPoint | None,
    fastest: OperatingPoint | None,
    slo: SLO | None,
    *,
    require_slo: bool,
) -> Verdict:
    """The SLO must be met by some configuration the profile measured."""
    if slo is None or (slo.p99_latency_ms is None and slo.min_throughput_rps is None):
        if require_slo:
            return Verdict(False, ("the manifest states no SLO and the team policy requires one",))
        return skipped("the manifest states no SLO (slo.p99_latency_ms, slo.min_throughput_rps)")
    if best is not None:
        return Verdict(
            True,
            (
                f"{best.key} meets the SLO with {best.cores} core(s): p99 "
                f"{best.p99_latency_ms:.2f} ms, {best.throughput_rps:.0f} rows/s in-process",
            ),
        )
    if fastest is None:
        return Verdict(False, ("no configuration could be profiled",))
    misses = slo_shortfalls(fastest.p99_latency_ms, fastest.throughput_rps, slo)
    return Verdict(
        False,
        (
            f"no profiled configuration meets the SLO; the best, {fastest.key}: "
            + "; ".join(misses),
        ),
    )


def overall(checks: Mapping[str, Verdict]) -> Verdict:
    """The gate: passed when no check failed; the reasons name the failed checks first."""
    failed = [f"{name}: {'; '.join(v.reasons)}" for name, v in checks.items() if not v.passed]
    if failed:
        return Verdict(False, tuple(failed))
    ran = [name for name, v in checks.items() if not v.skipped]
    return Verdict(True, (f"passed {', '.join(ran) or 'no checks'}",))

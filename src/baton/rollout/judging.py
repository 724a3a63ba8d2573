"""The canary controller's judge: Prometheus read by ``rollout/judge_queries.py`` and judged
by ``core/canary_judge.py``, its verdict turned into the rollout's records.

The canary's and the baseline's series are picked by the ``variant`` label a local
deployment gives each server's scrape target (``rollout/local_deploy.py``; on KServe, a
scrape configuration mapping the pods' ``baton.dev/track`` label to ``variant``) and the
``model`` label. The judge's configuration comes from the rollout's spec: its minimum of
requests and its thresholds; the p99 guardrail is the spec's, else the model's SLO from
its hand-over manifest, else 500 ms (Flagger's example).
"""

from __future__ import annotations

import math
import time

from baton.audit.prometheus import Prometheus
from baton.core.canary_judge import JudgeConfig, Verdict
from baton.core.canary_judge import MetricResult as JudgedMetric
from baton.core.canary_steps import Judgement
from baton.core.rollout_records import Classification, MetricResult, RolloutRecord, RolloutSpec
from baton.errors import BatonError
from baton.rollout.judge_queries import Selector, judge_interval, series_query

DEFAULT_P99_S = 0.5
QUERY_TIMEOUT_S = 10.0


def judge_config(spec: RolloutSpec, slo_p99_ms: float | None) -> JudgeConfig:
    """The judge's configuration from the rollout's spec (and the model's SLO)."""
    t = spec.thresholds
    p99_ms = t.p99_max_ms if t.p99_max_ms is not None else slo_p99_ms
    return JudgeConfig(
        confidence=t.confidence,
        min_requests=max(1, spec.min_requests),
        error_min_effect=t.error_min_effect,
        latency_allowed_ratio=t.latency_allowed_increase,
        success_rate_min=min(t.success_rate_min, 0.999999),
        p99_slo_s=DEFAULT_P99_S if p99_ms is None else p99_ms / 1000.0,
        pass_score=t.pass_score,
        marginal_score=t.marginal_score,
    )


def judgement(verdict: Verdict) -> Judgement:
    """The controller's view of a verdict: outcome, score, failed check, each metric."""
    metrics: dict[str, MetricResult] = {}
    for m in (*verdict.metrics, *verdict.guardrails):
        metrics[m.name] = record(m)
        for part in m.parts:
            metrics[part.name] = record(part)
    if verdict.decision == "pause":
        return Judgement("unreadable", verdict.reason)
    return Judgement(verdict.decision, verdict.reason, verdict.score, verdict.failed_check,
                     metrics)  # fmt: skip


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def record(m: JudgedMetric) -> MetricResult:
    """One judged metric as the store keeps it (infinite interval ends left out)."""
    low, high = m.ci if m.ci is not None else (None, None)
    values = {k: v for k, v in (("estimate", m.estimate), ("threshold", m.threshold))
              if v is not None and math.isfinite(v)}  # fmt: skip
    return MetricResult(
        classification=Classification(m.classification),
        critical=m.critical,
        n_canary=m.n_canary,
        n_baseline=m.n_baseline,
        statistic=_finite(m.statistic),
        p_value=None if m.p_value is None or not 0 <= m.p_value <= 1 else m.p_value,
        ci_low=_finite(low),
        ci_high=_finite(high),
        effect=_finite(m.effect),
        message=m.reason,
        values=values,
    )


class PrometheusJudge:
    """Reads each interval from Prometheus at ``url`` and judges it."""

    def __init__(self, url: str, slo_p99_ms: float | None, label: str = "variant") -> None:
        self.prometheus = Prometheus(url, timeout=QUERY_TIMEOUT_S)
        self.slo_p99_ms = slo_p99_ms
        self.label = label

    def _selectors(self, rollout: RolloutRecord) -> tuple[Selector, Selector]:
        return (Selector.of(**{self.label: "canary", "model": rollout.model}),
                Selector.of(**{self.label: "baseline", "model": rollout.model}))  # fmt: skip

    def ready(self, rollout: RolloutRecord) -> bool:
        """Both variants' series are in Prometheus (a new target is scraped only after
        discovery's next update, a few seconds): counting starts from there."""
        now = time.time()
        try:
            return all(self.prometheus.instant(series_query(s), now)
                       for s in self._selectors(rollout))  # fmt: skip
        except BatonError:
            return False

    def judge(self, rollout: RolloutRecord, start: float, end: float) -> Judgement:
        canary, baseline = self._selectors(rollout)
        config = judge_config(rollout.spec, self.slo_p99_ms)
        return judgement(judge_interval(self.prometheus, canary, baseline, start, end, config))

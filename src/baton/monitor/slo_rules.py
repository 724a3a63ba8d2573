"""Prometheus rules for one served model, derived from its SLO, and their promtool tests.

Recording rules turn the serving metrics into bad-event ratios over each burn window; alert
rules follow ``core.slo`` (multi-window, multi-burn-rate). Every alert carries ``model``,
``version``, ``team`` and ``severity`` labels and a runbook annotation, and every alert gets
a promtool unit test: synthetic series where it must fire and healthy ones where it must not.
Annotations use only ``$labels`` (never ``$value``) so the tests can assert them exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, TypeGuard

from prometheus_client.utils import floatToGoString

from baton.core import metric_names as m
from baton.core.drift import MIN_SAMPLES as DRIFT_MIN_SAMPLES
from baton.core.drift import THRESHOLD as DRIFT_THRESHOLD
from baton.core.manifest import SLO
from baton.core.slo import WINDOWS, BurnWindow, Objective, objectives

# client mistakes (4xx) are not the service's failures; refusals (429) and 5xx are
BAD_CODE_MATCH = 'code=~"5..|429"'
# a client that left before its request was in (499) is no event at all: out of both
# counts, so a flood of disconnects neither spends the budget nor dilutes real errors
VALID_CODE_MATCH = f'code!="{m.CLIENT_CLOSED}"'
RUNBOOK_URL = "https://github.com/modelbaton/baton/blob/main/docs/runbooks.md"
QUEUE_DOMINANCE = 2.0  # mean queue wait above this multiple of mean compute time
MV_TEXT = "{{ $labels.model }}:{{ $labels.version }}"
QUEUE_FLOOR_S = 0.005  # ... and above 5 ms, so idle-time jitter never pages anyone


# The rule file's shapes, as written to YAML and read back for the promtool tests.
AlertRule = TypedDict(  # functional form: "for" is a keyword
    "AlertRule",
    {
        "alert": str,
        "expr": str,
        "for": str,
        "labels": dict[str, str],
        "annotations": dict[str, str],
    },
)


class RecordingRule(TypedDict):
    record: str
    expr: str
    labels: dict[str, str]


class RuleGroup(TypedDict):
    name: str
    interval: str
    rules: list[AlertRule] | list[RecordingRule]


class RuleFile(TypedDict):
    groups: list[RuleGroup]


@dataclass(frozen=True)
class ModelTarget:
    """What the rules need to know of a served model."""

    model: str
    version: str  # the version an alert names when no series carries one (absent checks)
    team: str  # the team on call for it: receives the alerts
    slo: SLO | None
    runbook_base: str = RUNBOOK_URL  # a page with one section per alert (BATON_RUNBOOK_URL)


def le_label(bound: float) -> str:
    """A bucket bound as the ``le`` label value prometheus_client exposes it."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def _windows() -> list[str]:
    seen: list[str] = []
    for w in WINDOWS:
        for span in (w.short, w.long):
            if span not in seen:
                seen.append(span)
    return seen


def _record_name(objective: Objective, window: str) -> str:
    kind = "slow" if objective.name == "latency" else "errors"
    return f"baton_model:request_{kind}:ratio_rate{window}"


def _ratio_expr(objective: Objective, model: str, window: str) -> str:
    sel = f'model="{model}"'
    if objective.name == "availability":
        by = "sum by (model, version)"
        bad = f"{by} (rate({m.REQUESTS_TOTAL}{{{sel},{BAD_CODE_MATCH}}}[{window}]))"
        total = f"{by} (rate({m.REQUESTS_TOTAL}{{{sel},{VALID_CODE_MATCH}}}[{window}]))"
        return f"({bad} or {total} * 0) / {total}"
    assert objective.threshold_seconds is not None
    le = le_label(objective.threshold_seconds)
    by = "sum by (model, version)"
    fast = f'{by} (rate({m.REQUEST_DURATION}_bucket{{{sel},le="{le}"}}[{window}]))'
    total = f"{by} (rate({m.REQUEST_DURATION}_count{{{sel}}}[{window}]))"
    return f"1 - {fast} / {total}"


def _labels(target: ModelTarget, severity: str, **extra: str) -> dict[str, str]:
    return {"severity": severity, "team": target.team, "model": target.model, **extra}


def _annotations(
    target: ModelTarget, anchor: str, summary: str, description: str
) -> dict[str, str]:
    return {
        "summary": summary,
        "description": description,
        "runbook_url": f"{target.runbook_base}#{anchor}",
    }


def reachable_windows(objective: Objective) -> list[BurnWindow]:
    """Windows whose threshold a bad-event ratio (at most 1) can exceed."""
    return [w for w in WINDOWS if objective.alert_threshold(w) < 1.0]


def _burn_alerts(target: ModelTarget, objective: Objective) -> list[AlertRule]:
    alerts: list[AlertRule] = []
    for severity in ("critical", "warning"):
        windows = [w for w in reachable_windows(objective) if w.severity == severity]
        if not windows:
            continue
        clauses = [
            f'({_record_name(objective, w.long)}{{model="{target.model}"}} > '
            f"{objective.alert_threshold(w):.6g} and "
            f'{_record_name(objective, w.short)}{{model="{target.model}"}} > '
            f"{objective.alert_threshold(w):.6g})"
            for w in windows
        ]
        speed = "Fast" if severity == "critical" else "Slow"
        what = (
            f"requests slower than {objective.threshold_seconds * 1000:g} ms"
            if objective.name == "latency" and objective.threshold_seconds is not None
            else "failed requests (5xx and 429)"
        )
        name = f"Baton{objective.name.capitalize()}Budget{speed}Burn"
        alerts.append(
            {
                "alert": name,
                "expr": " or ".join(clauses),
                "for": windows[0].for_,
                "labels": _labels(target, severity, slo=objective.name),
                "annotations": _annotations(
                    target,
                    name.lower(),
                    f"{MV_TEXT} is burning its {objective.name} "
                    f"error budget {'fast' if severity == 'critical' else 'steadily'}",
                    f"Too many {what} for the {objective.target:.4g} {objective.name} objective "
                    f"of {MV_TEXT}; at this rate the 30-day "
                    "budget runs out early.",
                ),
            }
        )
    return alerts


def _other_alerts(target: ModelTarget) -> list[AlertRule]:
    sel = f'model="{target.model}"'
    return [_queue_alert(target, sel), *_presence_alerts(target, sel), _drift_alert(target, sel)]


def _alert(
    target: ModelTarget,
    name: str,
    *,
    expr: str,
    for_: str,
    labels: dict[str, str],
    summary: str,
    description: str,
) -> AlertRule:
    """One alerting rule; its runbook anchor is its name in lower case."""
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": labels,
        "annotations": _annotations(target, name.lower(), summary, description),
    }


def _queue_alert(target: ModelTarget, sel: str) -> AlertRule:
    """Requests wait longer than they compute: the replicas are saturated."""
    queue_mean = (
        f"sum by (model, version) (rate({m.QUEUE_DURATION}_sum{{{sel}}}[10m])) / "
        f"sum by (model, version) (rate({m.QUEUE_DURATION}_count{{{sel}}}[10m]))"
    )
    compute_mean = (
        f"sum by (model, version) (rate({m.COMPUTE_DURATION}_sum{{{sel}}}[10m])) / "
        f"sum by (model, version) (rate({m.COMPUTE_DURATION}_count{{{sel}}}[10m]))"
    )
    return _alert(
        target,
        "BatonQueueDominates",
        expr=f"({queue_mean}) > {QUEUE_DOMINANCE:g} * ({compute_mean}) "
        f"and ({queue_mean}) > {QUEUE_FLOOR_S:g}",
        for_="10m",
        labels=_labels(target, "warning"),
        summary="{{ $labels.model }}:{{ $labels.version }} requests wait longer than they compute",
        description=(
            "Mean queue wait is over twice the mean compute time: the replicas are saturated; "
            "add replicas or a larger batch size (see `baton audit`)."
        ),
    )


def _presence_alerts(target: ModelTarget, sel: str) -> list[AlertRule]:
    """No scraped server reports the model; a replica that served it within the hour is down."""
    not_served = _alert(
        target,
        "BatonModelNotServed",
        expr=f"absent({m.MODEL_INFO}{{{sel}}})",
        for_="5m",
        labels=_labels(target, "critical", version=target.version),
        summary="{{ $labels.model }} is not served by any scraped baton server",
        description=(
            "No baton server reports this model as loaded: it failed to load, its server is "
            "down, or Prometheus no longer scrapes it."
        ),
    )
    replica_down = _alert(
        target,
        "BatonReplicaDown",
        expr="max by (model, version, instance) "
        f"(max_over_time({m.MODEL_INFO}{{{sel}}}[1h])) "
        'unless on (instance) (up{job="baton"} == 1)',
        for_="2m",
        labels=_labels(target, "critical"),
        summary="A replica serving {{ $labels.model }}:{{ $labels.version }} is down "
        "({{ $labels.instance }})",
        description=(
            "Prometheus cannot scrape {{ $labels.instance }}, which served this model within "
            "the last hour."
        ),
    )
    return [not_served, replica_down]


def _drift_alert(target: ModelTarget, sel: str) -> AlertRule:
    """Serving inputs drifted from the evaluation data."""
    return _alert(
        target,
        "BatonInputDrift",
        expr=f"max by (model, version, feature) ({m.DRIFT_SCORE}{{{sel}}}) "
        f"> {DRIFT_THRESHOLD:g} "
        f"and on (model, version) {m.DRIFT_SAMPLES}{{{sel}}} >= {DRIFT_MIN_SAMPLES}",
        for_="30m",
        labels=_labels(target, "warning"),
        summary="{{ $labels.model }}:{{ $labels.version }} input {{ $labels.feature }} has drifted",
        description="Serving traffic no longer looks like the evaluation data for feature "
        f"{{{{ $labels.feature }}}} (PSI above {DRIFT_THRESHOLD:g}): check upstream data, "
        "consider a retrain.",
    )


@dataclass(frozen=True)
class RuleSet:
    """A model's rule file content, the objectives behind it, and what was assumed."""

    target: ModelTarget
    rules: RuleFile
    objectives: tuple[Objective, ...]
    notes: tuple[str, ...]
    time_scale: float = 1.0


_DURATION = re.compile(r"^(\d+)([smhd])$")
_RANGE = re.compile(r"\[(\d+)([smhd])\]")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TIMED_KEYS = ("for", "interval", "eval_time", "evaluation_interval")
# Prometheus applies newly discovered targets in 5 s steps: a scaled ``for`` shorter than
# this would let absent() alerts fire while a freshly started Prometheus is still finding
# the servers.
MIN_SCALED_FOR_MS = 10_000


def _scaled(amount: str, unit: str, scale: float, floor_ms: int = 1) -> str:
    ms = max(floor_ms, round(int(amount) * _UNIT_S[unit] * 1000 / scale))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scale_duration(value: str, scale: float) -> str:
    """One Prometheus duration (``30s``, ``5m``) divided by ``scale``."""
    hit = _DURATION.match(value)
    if hit is None:
        raise ValueError(f"{value!r} is not a duration like 30s or 5m")
    return value if scale == 1 else _scaled(hit[1], hit[2], scale)


def scale_durations(data: Any, scale: float) -> Any:
    """Every duration in a rule or test file divided by ``scale``.

    Drills and end-to-end tests run the real rules at, say, 60x speed: one hour of burn
    window becomes a minute, with every ratio and threshold unchanged.
    """
    if scale == 1:
        return data
    if isinstance(data, list):
        return [scale_durations(item, scale) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, object] = {}
    for key, value in data.items():
        if key in _TIMED_KEYS and isinstance(value, str) and (hit := _DURATION.match(value)):
            floor = MIN_SCALED_FOR_MS if key == "for" else 1
            out[key] = _scaled(hit[1], hit[2], scale, floor)
        elif key == "expr" and isinstance(value, str):
            out[key] = _RANGE.sub(lambda h: f"[{_scaled(h[1], h[2], scale)}]", value)
        else:
            out[key] = scale_durations(value, scale)
    return out


def rule_file(
    target: ModelTarget,
    default_slo: SLO,
    buckets: Sequence[float] = m.LATENCY_BUCKETS,
    time_scale: float = 1.0,
) -> RuleSet:
    """The rule file for one model: one group of recording rules, one of alerts.

    ``time_scale`` > 1 shrinks every window and ``for`` (drills and end-to-end tests).
    """
    found = objectives(target.slo, buckets, default_slo)
    records: list[RecordingRule] = [
        {
            "record": _record_name(objective, window),
            "expr": _ratio_expr(objective, target.model, window),
            "labels": {"slo": objective.name},
        }
        for objective in found.items
        for window in _windows()
    ]
    alerts = [a for objective in found.items for a in _burn_alerts(target, objective)]
    notes = list(found.notes)
    for objective in found.items:
        lost = [w for w in WINDOWS if w not in reachable_windows(objective)]
        if lost:
            notes.append(
                f"{objective.name} budget of {objective.budget:.3g} is too loose for the "
                f"{', '.join(w.long for w in lost)} burn window(s): they are left out"
            )
    alerts += _other_alerts(target)
    groups: list[RuleGroup] = [
        {"name": f"baton-{target.model}-slo-records", "interval": "1m", "rules": records},
        {"name": f"baton-{target.model}-alerts", "interval": "1m", "rules": alerts},
    ]
    rules: RuleFile = scale_durations({"groups": groups}, time_scale)  # the same shape
    return RuleSet(target, rules, found.items, tuple(notes), time_scale)


# -- promtool unit tests ----------------------------------------------------------------


def _expected(alert: AlertRule, labels: dict[str, str]) -> dict[str, object]:
    all_labels = {**labels, **alert["labels"]}
    return {"exp_labels": all_labels, "exp_annotations": _render(alert["annotations"], all_labels)}


def _render(annotations: dict[str, str], labels: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, text in annotations.items():
        for name, value in labels.items():
            text = text.replace(f"{{{{ $labels.{name} }}}}", value)
        out[key] = text
    return out


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


class _Scenario:
    """Synthetic series for one model on one replica, over ``MINUTES`` of 1-minute samples."""

    MINUTES = 180  # long enough for the slowest alert's ``for: 1h`` after its windows fill

    def __init__(self, target: ModelTarget) -> None:
        self.mv = {"model": target.model, "version": target.version}
        self.inst = {"instance": "replica-1:8000", "job": "baton"}
        self.team = target.team

    def series(self, name: str, values: str, **labels: str) -> dict[str, str]:
        return _series(name, {**self.mv, **self.inst, **labels}, values)

    def rising(self, name: str, per_min: float, **labels: str) -> dict[str, str]:
        return self.series(name, f"0+{per_min:g}x{self.MINUTES}", **labels)

    def requests(self, bad_share: float) -> list[dict[str, str]]:
        bad = round(1000 * bad_share)
        return [
            self.rising(m.REQUESTS_TOTAL, 1000 - bad, code="200"),
            self.rising(m.REQUESTS_TOTAL, bad, code="500"),
            self.rising(m.REQUESTS_TOTAL, 100, code="400"),  # client errors spend no budget
            self.rising(m.REQUESTS_TOTAL, 1000, code=str(m.CLIENT_CLOSED)),  # nor disconnects
        ]

    def latency(self, le: str, slow_share: float) -> list[dict[str, str]]:
        return [
            self.rising(f"{m.REQUEST_DURATION}_bucket", 1000 * (1 - slow_share), le=le),
            self.rising(f"{m.REQUEST_DURATION}_count", 1000),
        ]

    def queueing(self, wait_s: float) -> list[dict[str, str]]:
        return [
            self.rising(f"{m.QUEUE_DURATION}_sum", 100 * wait_s),
            self.rising(f"{m.QUEUE_DURATION}_count", 100),
            self.rising(f"{m.COMPUTE_DURATION}_sum", 10 * 0.004),  # 4 ms batches
            self.rising(f"{m.COMPUTE_DURATION}_count", 10),
        ]

    def served(self, minutes_up: int | None = None) -> list[dict[str, str]]:
        info = {"alias": "production", "owner": self.team}
        if minutes_up is None:
            return [
                self.series(m.MODEL_INFO, f"1x{self.MINUTES}", **info),
                _series("up", self.inst, f"1x{self.MINUTES}"),
            ]
        down = self.MINUTES - minutes_up
        return [
            self.series(m.MODEL_INFO, f"1x{minutes_up} stale", **info),
            _series("up", self.inst, f"1x{minutes_up} 0x{down}"),
        ]

    def drift(self, score: float) -> list[dict[str, str]]:
        return [
            self.series(m.DRIFT_SCORE, f"{score:g}x{self.MINUTES}", feature="input_3"),
            self.series(m.DRIFT_SAMPLES, f"5000x{self.MINUTES}"),
        ]


def _bad_share(objective: Objective, alert: AlertRule) -> float:
    """A bad-event share that crosses the alert's lowest threshold with margin."""
    severity = alert["labels"]["severity"]
    lowest = min(
        objective.alert_threshold(w) for w in reachable_windows(objective) if w.severity == severity
    )
    return min(1.0, 1.5 * lowest)


def alert_rules(rules: RuleFile) -> list[AlertRule]:
    """The alerting rules of a rule file, in file order (not its recording rules)."""
    return [r for g in rules["groups"] for r in g["rules"] if _is_alert(r)]


def _is_alert(rule: AlertRule | RecordingRule) -> TypeGuard[AlertRule]:
    return "alert" in rule


def rule_tests(ruleset: RuleSet, rule_file_name: str) -> dict[str, object]:
    """promtool tests: each alert fires on its planted fault; none fires on healthy traffic."""
    sc = _Scenario(ruleset.target)
    alerts = {r["alert"]: r for r in alert_rules(ruleset.rules)}
    by_name = {o.name: o for o in ruleset.objectives}
    latency_le = (
        le_label(by_name["latency"].threshold_seconds)
        if "latency" in by_name and by_name["latency"].threshold_seconds is not None
        else "+Inf"
    )
    at = f"{sc.MINUTES}m"
    healthy = [
        *sc.requests(0.0), *sc.latency(latency_le, 0.0), *sc.queueing(0.001),
        *sc.served(), *sc.drift(0.05),
    ]  # fmt: skip
    tests: list[dict[str, object]] = [
        {
            "name": "healthy traffic raises no alert",
            "interval": "1m",
            "input_series": healthy,
            "alert_rule_test": [
                {"eval_time": at, "alertname": name, "exp_alerts": []} for name in alerts
            ],
        }
    ]
    for name, alert in alerts.items():
        labels: dict[str, str] = dict(sc.mv)
        if name.startswith("BatonAvailability"):
            fire = sc.requests(_bad_share(by_name["availability"], alert)) + sc.served()
        elif name.startswith("BatonLatency"):
            fire = sc.latency(latency_le, _bad_share(by_name["latency"], alert)) + sc.served()
        elif name == "BatonQueueDominates":
            fire = sc.queueing(0.05) + sc.served()
        elif name == "BatonModelNotServed":
            fire = [_series("up", sc.inst, f"1x{sc.MINUTES}")]
            labels = {"model": ruleset.target.model}
        elif name == "BatonReplicaDown":
            fire = sc.served(minutes_up=sc.MINUTES - 20)
            labels = {**sc.mv, "instance": sc.inst["instance"]}
        elif name == "BatonInputDrift":
            fire = sc.drift(0.6) + sc.served()
            labels = {**sc.mv, "feature": "input_3"}
        else:
            raise AssertionError(f"no promtool test written for alert {name}")
        tests.append(
            {
                "name": f"{name} fires on its fault",
                "interval": "1m",
                "input_series": fire,
                "alert_rule_test": [
                    {"eval_time": at, "alertname": name, "exp_alerts": [_expected(alert, labels)]}
                ],
            }
        )
    document = {"rule_files": [rule_file_name], "evaluation_interval": "1m", "tests": tests}
    return dict(scale_durations(document, ruleset.time_scale))

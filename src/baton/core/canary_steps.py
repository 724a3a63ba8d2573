"""What the canary controller does after each judged interval. Pure: records in, a move out.

The judge (``core/canary_judge.py``) says what one interval showed: advance, hold, fail,
roll back at once (a guardrail), or that it could not read its inputs. The controller adds
what only it knows, Flagger's loop (``shared/notes/deploy.md`` §B):

- advance: the next step's weights; after the last step, promotion;
- hold or fail: a failed check counts toward ``thresholds.failed_checks`` (cumulative over
  the rollout, as Flagger's); reaching it rolls back; so does a step that made no progress
  for ``deadline_s`` ("no data" holds count no failed check: stopped traffic waits here,
  then rolls back at the deadline; it never promotes);
- rollback: at once, with the guardrail's reason;
- unreadable metrics (Prometheus down): hold without judging; ``consecutive_errors`` of them
  in a row pause the rollout at its step for a person (Argo's ``consecutiveErrorLimit``).

A baseline copy of the stable version gets as much traffic as the canary, so step ``p``
is ``canary p, baseline p, stable 100 - 2p``; promotion gives the canary 100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from baton.core.rollout_records import (
    Change,
    Decision,
    DecisionRecord,
    MetricResult,
    Phase,
    RolloutRecord,
    RolloutSpec,
    Weights,
)
from baton.errors import BadInput

Outcome = Literal["advance", "hold", "fail", "rollback", "unreadable"]


@dataclass(frozen=True)
class Judgement:
    """One interval as the judge saw it: its outcome, score, and each metric's numbers."""

    outcome: Outcome
    reason: str
    score: float | None = None  # None: nothing was scored (unreadable)
    failed_check: bool = False  # the judge counts this interval as a failed check
    metrics: Mapping[str, MetricResult] = field(default_factory=dict)


@dataclass(frozen=True)
class Move:
    """What to record for the interval, and the change it makes (None: none)."""

    decision: Decision
    reason: str
    change: Change | None


def weights_at(spec: RolloutSpec, step: int) -> Weights:
    """The traffic of ``step`` (an index into ``spec.steps``; ``len(steps)``: promoted)."""
    if step == len(spec.steps):
        return Weights(stable=0, baseline=0, canary=100)
    if not 0 <= step < len(spec.steps):
        raise BadInput(f"step {step}: the rollout has steps 0 to {len(spec.steps)}")
    p = spec.steps[step]
    if 2 * p > 100:
        raise BadInput(f"step {p} %: the canary and its baseline cannot both get {p} %")
    return Weights(stable=100 - 2 * p, baseline=p, canary=p)


def unreadable_in_a_row(decisions: Sequence[DecisionRecord]) -> int:
    """Intervals at the end of the record whose metrics could not be read (they hold with
    no score and no metric); a pause or any judged interval ends the run."""
    count = 0
    for d in reversed(decisions):
        if d.decision is not Decision.HOLD or d.score is not None or d.metrics:
            break
        count += 1
    return count


def next_move(
    record: RolloutRecord, judgement: Judgement, *, unreadable_before: int, step_age_s: float
) -> Move:
    """The move after an interval of a progressing rollout (see the module docstring)."""
    t = record.spec.thresholds
    if judgement.outcome == "unreadable":
        count = unreadable_before + 1
        if count >= t.consecutive_errors:
            why = (
                f"metrics unreadable {count} intervals in a row ({judgement.reason}): paused "
                "at this step until a person resumes it (`baton canary resume`)"
            )
            return Move(Decision.PAUSE, why, Change(phase=Phase.PAUSED))
        why = f"metrics unreadable ({count} of {t.consecutive_errors} before pausing): "
        return Move(Decision.HOLD, why + judgement.reason, None)
    if judgement.outcome == "rollback":
        change = Change(phase=Phase.ROLLING_BACK, failed_checks=record.failed_checks + 1)
        return Move(Decision.ROLLBACK, judgement.reason, change)  # the judge names the guardrail
    if judgement.outcome == "advance":
        following = record.step + 1
        if following < len(record.spec.steps):
            weights = weights_at(record.spec, following)
            why = f"{judgement.reason}; next step: canary {weights.canary} %"
            return Move(Decision.ADVANCE, why, Change(step=following, weights=weights))
        why = f"{judgement.reason}; the last step passed: promote"
        return Move(Decision.PROMOTE, why, Change(phase=Phase.PROMOTING))
    return _held(record, judgement, step_age_s)


def _held(record: RolloutRecord, judgement: Judgement, step_age_s: float) -> Move:
    t, spec = record.spec.thresholds, record.spec
    failed = record.failed_checks + (1 if judgement.failed_check else 0)
    if failed >= t.failed_checks:
        why = f"{failed} failed checks (rollback at {t.failed_checks}); last: {judgement.reason}"
        return Move(Decision.ROLLBACK, why, Change(phase=Phase.ROLLING_BACK, failed_checks=failed))
    if step_age_s >= spec.deadline_s:
        why = (
            f"no progress for {step_age_s:.0f} s at step {record.step + 1} (deadline "
            f"{spec.deadline_s:g} s); last: {judgement.reason}"
        )
        return Move(Decision.ROLLBACK, why, Change(phase=Phase.ROLLING_BACK, failed_checks=failed))
    decision = Decision.FAIL if judgement.outcome == "fail" else Decision.HOLD
    change = Change(failed_checks=failed) if failed != record.failed_checks else None
    counted = f" (failed check {failed} of {t.failed_checks})" if judgement.failed_check else ""
    return Move(decision, judgement.reason + counted, change)

"""What served at an instant, from synthetic facts: aliases replayed from their moves, the
promotion and gate verdict of each, and a rollout's weights at that moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from baton.core.history_facts import (
    AliasMove,
    GateRun,
    ModelFacts,
    PromotionFact,
    RolloutChange,
    RolloutFacts,
)
from baton.core.promotion import Approval
from baton.core.rollout_records import (
    ALL_STABLE,
    Phase,
    RolloutRecord,
    RolloutSpec,
    RolloutTarget,
    Weights,
)
from baton.core.served_at import history, served_at, verdict_at

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def move(
    entry: int, minute: int, alias: str, version: int, promotion: int | None = None
) -> AliasMove:
    return AliasMove(entry, t(minute), alias, version, None, "sue", f"why {entry}", promotion)


def gate(gid: int, version: int, minute: int, status: str = "passed") -> GateRun:
    return GateRun(gid, version, status, None, t(minute), "gate", (f"{status} {gid}",))


PROMO = PromotionFact(
    7, "toy", 2, "promote", "production", "applied", 1, "sam", t(20), "release 2", "sue", t(30),
    (Approval("deployment", "serving", "sue", t(30), "ok"),),
)  # fmt: skip


def rollout(finished: datetime | None) -> RolloutFacts:
    record = RolloutRecord(
        3, "toy", 1, 2, 1, RolloutTarget.LOCAL, Phase.SUCCEEDED, 2, Weights(stable=0, canary=100),
        RolloutSpec(steps=(10, 25)), 0, 7, "sam", t(21), t(31), finished, None, None,
    )  # fmt: skip
    initial = RolloutChange(1, t(21), "sam", Phase.INITIALIZING, 0, ALL_STABLE, 0, None)
    ten, quarter = (
        Weights(stable=80, baseline=10, canary=10),
        Weights(stable=50, baseline=25, canary=25),
    )
    steps = (
        RolloutChange(2, t(22), "c", Phase.PROGRESSING, 0, ten, 0, None),
        RolloutChange(3, t(25), "c", Phase.PROGRESSING, 1, quarter, 1, "hold"),
    )
    return RolloutFacts(record, initial, steps, ())


def facts(finished: datetime | None = t(31)) -> ModelFacts:
    return ModelFacts(
        "toy", "research", t(0), (),
        (gate(1, 1, 2), gate(2, 2, 15, "failed"), gate(3, 2, 18), gate(4, 2, 40, "failed")),
        (PROMO,),
        (move(10, 1, "candidate", 1), move(11, 5, "production", 1), move(12, 12, "candidate", 2),
         move(13, 30, "production", 2, promotion=7)),
        (), (rollout(finished),),
    )  # fmt: skip


def test_aliases_replay_up_to_and_including_the_instant() -> None:
    f = facts()
    assert served_at(f, t(0)).aliases == ()
    assert {a.alias: a.version for a in served_at(f, t(5)).aliases} == {
        "candidate": 1,
        "production": 1,
    }
    assert served_at(f, t(29)).alias("production").version == 1  # type: ignore[union-attr]
    late = served_at(f, t(30)).alias("production")
    assert late is not None and late.version == 2 and late.since == t(30)
    assert late.promotion == PROMO and late.rollout == 3 and late.reason == "why 13"


def test_the_gate_verdict_is_the_one_the_version_had_when_it_moved() -> None:
    prod = served_at(facts(), t(50)).alias("production")
    assert prod is not None and prod.gate is not None and prod.gate.id == 3  # not the later #4
    assert verdict_at(facts().gate_runs, 2, t(16)) == gate(2, 2, 15, "failed")
    assert verdict_at(facts().gate_runs, 3, t(50)) is None


def test_a_rollout_in_progress_has_the_weights_of_that_moment() -> None:
    assert served_at(facts(), t(20)).rollout is None
    assert served_at(facts(), t(21)).rollout.weights == ALL_STABLE  # type: ignore[union-attr]
    mid = served_at(facts(), t(24)).rollout
    assert mid is not None and (mid.phase, mid.step, mid.weights.canary) == (
        Phase.PROGRESSING,
        0,
        10,
    )
    assert served_at(facts(), t(26)).rollout.step == 1  # type: ignore[union-attr]
    assert served_at(facts(), t(31)).rollout is None  # finished at that instant
    assert served_at(facts(None), t(99)).rollout is not None  # still running


def test_history_keeps_the_events_up_to_the_instant() -> None:
    found = history(facts(), t(12), now=t(100))
    assert found.at == t(12) and found.served.at == t(12)
    assert [e.at for e in found.events] == [t(1), t(2), t(5), t(12)]
    whole = history(facts(), None, now=t(100))
    assert (
        whole.served.at == t(100) and len(whole.events) == 4 + 4 + 2 + 3
    )  # gates, moves, promotion, rollout

"""The timeline from synthetic facts: one line per fact, in time order, ties in pipeline order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from baton.core.history_facts import (
    AliasMove,
    GateRun,
    ModelFacts,
    PromotionFact,
    Registration,
    RenderFact,
)
from baton.core.rollout_records import Decision, DecisionRecord, Weights
from baton.core.timeline import EventKind, decision_line, gate_line, move_line, timeline

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def test_same_instant_events_follow_the_pipeline_then_their_ids() -> None:
    same = T0 + timedelta(seconds=1)
    facts = ModelFacts(
        "toy", "research", T0,
        (Registration(2, None, "b" * 64, same, "alice"),
         Registration(1, "v1", "a" * 64, same, "alice")),
        (GateRun(5, 1, "passed", None, same, "gate", ()),),
        (),
        (AliasMove(9, same, "candidate", 1, None, "alice", None, None),),
        (RenderFact(1, T0, "sam", 1, ("k8s", "kserve"), "/out", True),),
        (),
    )  # fmt: skip
    events = timeline(facts)
    assert [(e.kind, e.version) for e in events] == [
        (EventKind.RENDERED, 1), (EventKind.REGISTERED, 1), (EventKind.REGISTERED, 2),
        (EventKind.GATE, 1), (EventKind.ALIAS_MOVED, 1),
    ]  # fmt: skip
    assert (
        events[0].summary
        == "rendered version 1 for k8s, kserve into /out (forced past a failed gate)"
    )
    assert events[1].summary == "version 1 registered (label v1), model sha256 aaaaaaaaaaaa"


def test_lines_for_moves_gates_and_decisions() -> None:
    rollback = PromotionFact(4, "toy", 1, "rollback", "production", "applied", 2, "sue", T0, "p99",
                             "sue", T0, ())  # fmt: skip
    moved = AliasMove(1, T0, "production", 1, 2, "sue", "p99", 4)
    assert move_line(moved, [rollback]) == "@production 2 -> 1 (rollback #4)"
    assert move_line(AliasMove(1, T0, "shadow", 3, None, "x", None, None), []) == "@shadow -> 3"
    assert gate_line(GateRun(1, 2, "error", 1, T0, "g", ("onnx failed",))) == (
        "gate error against version 1: onnx failed"
    )
    held = DecisionRecord(1, 1, T0, 2, Weights(stable=50, baseline=25, canary=25), None,
                          Decision.PAUSE, "prometheus unreachable", {})  # fmt: skip
    assert decision_line(held) == "step 2 (canary 25 %): pause, no score"


def test_a_cancelled_promotion_and_an_archive_are_events_a_rollback_is_not() -> None:
    def step(pid: int, kind: str, target: str, state: str) -> PromotionFact:
        return PromotionFact(pid, "toy", 1, kind, target, state, None, "sam", T0, "r", "bob",
                             T0 + timedelta(minutes=pid), ())  # fmt: skip

    facts = ModelFacts("toy", "research", T0, (), (), (
        step(1, "promote", "staging", "cancelled"), step(2, "promote", "archived", "applied"),
        step(3, "rollback", "production", "applied"), step(4, "promote", "staging", "pending"),
    ), (), (), ())  # fmt: skip
    kinds = [(e.kind.value, e.promotion) for e in timeline(facts)]
    assert kinds == [
        ("promotion.requested", 1), ("promotion.requested", 2), ("promotion.requested", 4),
        ("promotion.cancelled", 1), ("archived", 2),
    ]  # fmt: skip

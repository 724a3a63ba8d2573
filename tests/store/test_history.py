"""``model_history`` over a real past on SQLite and PostgreSQL: the timeline's order and what
served at instants before anything, between promotions, mid-rollout and after a rollback."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from baton.core.rollout_records import Phase, Weights
from baton.core.served_at import ServedAt
from baton.errors import BadInput, NotFound
from baton.store.history import model_history
from baton.store.store import Store
from tests.history_factory import Past, build_past

STORY = [
    *("registered", "alias.moved") * 3,
    *("gate", "promotion.requested", "approved", "alias.moved"),
    *("promotion.requested", "approved", "approved", "alias.moved", "rendered"),
    *("gate", "promotion.requested", "approved", "alias.moved"),
    *("promotion.requested", "rollout.started", "rollout.changed", "rollout.decision"),
    *("rollout.changed", "rollout.decision", "rollout.changed", "approved", "approved"),
    *("alias.moved", "rollout.changed"),
    "alias.moved",
    *("gate", "rollout.started", "rollout.changed", "rollout.decision", "rollout.changed"),
    "rollout.changed",
]


@pytest.fixture
def past(store: Store, tmp_path: Path) -> Past:
    return build_past(store, tmp_path)


def at(past: Past, mark: str) -> ServedAt:
    return model_history(past.world.store.engine, "toy", past.marks[mark]).served


def versions(served: ServedAt) -> dict[str, int]:
    return {a.alias: a.version for a in served.aliases}


def test_the_timeline_tells_every_recorded_fact_in_order(past: Past) -> None:
    found = model_history(past.world.store.engine, "toy")
    assert [e.kind.value for e in found.events] == STORY
    assert (found.model, found.owner, found.at) == ("toy", "research", None)
    times = [e.at for e in found.events]
    assert times == sorted(times)
    lines = [e.summary for e in found.events if e.kind == "alias.moved"]
    assert lines[3:] == [
        "@staging -> 1 (promotion #1)", f"@production -> 1 (promotion #{past.ids['release1']})",
        "@staging 1 -> 2 (promotion #3)", f"@production 1 -> 2 (promotion #{past.ids['release2']})",
        f"@production 2 -> 1 (rollback #{past.ids['rollback']})",
    ]  # fmt: skip
    decisions = [e.decision for e in found.events if e.decision is not None]
    assert [d.decision.value for d in decisions] == ["advance", "promote", "rollback"]
    guard = decisions[-1].metrics["nonfinite"]
    assert guard.critical and guard.message == "NaN in 12 outputs" and guard.canary == 12
    assert decisions[0].metrics["latency"].ci_high == 0.0003
    (render,) = [e for e in found.events if e.kind == "rendered"]
    assert render.summary == "rendered version 1 for k8s into /srv/deploy/toy-1"
    gates = [e for e in found.events if e.kind == "gate"]
    assert gates[0].summary == "version 1 gate passed: passed accuracy, latency"
    assert gates[0].evaluation == past.ids["gate1"]


def test_before_anything_nothing_served(past: Past) -> None:
    found = model_history(past.world.store.engine, "toy", past.marks["before"])
    assert found.events == () and found.served.aliases == () and found.served.rollout is None
    assert found.created_at > past.marks["before"]


def test_between_promotions_production_names_its_approvals_and_gate(past: Past) -> None:
    served = at(past, "v1_serving")
    assert versions(served) == {"candidate": 3, "staging": 1, "production": 1}
    prod = served.alias("production")
    assert prod is not None and prod.moved_by == "sue" and prod.rollout is None
    assert prod.promotion is not None and prod.promotion.id == past.ids["release1"]
    assert prod.promotion.reason == "first release" and prod.promotion.requested_by == "sam"
    assert [(a.person, a.team, a.stage, a.reason) for a in prod.promotion.approvals] == [
        ("bob", "research", "evaluation", "quality ok"),
        ("sue", "serving", "deployment", "capacity ok"),
    ]
    assert prod.gate is not None and (prod.gate.id, prod.gate.status) == (
        past.ids["gate1"],
        "passed",
    )
    assert served.rollout is None
    events = model_history(past.world.store.engine, "toy", past.marks["v1_serving"]).events
    assert events[-1].kind == "rendered" and all(e.at <= past.marks["v1_serving"] for e in events)


def test_mid_rollout_the_answer_has_the_weights_of_that_moment(past: Past) -> None:
    served = at(past, "mid_rollout")
    assert versions(served)["production"] == 1
    r = served.rollout
    assert r is not None and r.id == past.ids["rollout2"]
    assert (r.phase, r.step, r.from_version, r.to_version, r.baseline_version) == (
        Phase.PROGRESSING, 1, 1, 2, 1,
    )  # fmt: skip
    assert r.weights == Weights(stable=50, baseline=25, canary=25) and r.started_by == "sam"


def test_after_the_canary_production_names_the_rollout_that_applied_it(past: Past) -> None:
    prod = at(past, "v2_serving").alias("production")
    assert prod is not None and prod.version == 2 and prod.rollout == past.ids["rollout2"]
    assert prod.promotion is not None and prod.promotion.id == past.ids["release2"]
    assert [a.reason for a in prod.promotion.approvals] == ["quality ok", "canary passed"]
    assert prod.gate is not None and prod.gate.id == past.ids["gate2"]
    assert at(past, "v2_serving").rollout is None  # it had succeeded


def test_after_the_rollback_production_is_back_with_on_calls_reason(past: Past) -> None:
    prod = at(past, "rolled_back").alias("production")
    assert prod is not None and prod.version == 1 and prod.moved_by == "sue"
    assert prod.promotion is not None and prod.promotion.kind == "rollback"
    assert prod.promotion.id == past.ids["rollback"] and prod.promotion.approvals == ()
    assert prod.reason == prod.promotion.reason == "p99 doubled after the release"
    assert prod.promotion.from_version == 2
    assert prod.gate is not None and prod.gate.id == past.ids["gate1"]


def test_now_matches_the_alias_table_and_a_failed_canary_left_production_alone(
    past: Past,
) -> None:
    now = model_history(past.world.store.engine, "toy").served
    assert versions(now) == past.world.store.registry.model("toy")[0].aliases
    assert versions(now)["production"] == 1 and now.rollout is None
    assert versions(at(past, "end")) == versions(now)


def test_an_alias_moved_without_promotion_keeps_its_reason(past: Past) -> None:
    past.world.store.registry.set_alias("toy", "shadow", 3, "sam", "mirror traffic")
    shadow = model_history(past.world.store.engine, "toy").served.alias("shadow")
    assert shadow is not None and shadow.promotion is None and shadow.reason == "mirror traffic"
    assert shadow.gate is not None and shadow.gate.id == past.ids["gate3"]


def test_unknown_model_and_naive_instants_are_refused(past: Past) -> None:
    engine = past.world.store.engine
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        model_history(engine, "nope")
    with pytest.raises(BadInput, match="time zone"):
        model_history(engine, "toy", datetime(2026, 1, 1))

"""The rollout repository on SQLite and PostgreSQL: one active rollout per model, compare-and-set
changes, decisions with typed per-metric results, the controller's lease, the audit trail."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from baton.core.promotion import Target
from baton.core.rollout_records import (
    Change,
    Classification,
    Decision,
    Holder,
    MetricResult,
    Phase,
    RolloutSpec,
    RolloutTarget,
    Weights,
)
from baton.errors import BadInput, Conflict, Corrupt, NotFound
from baton.store.rollout_tables import rollouts
from baton.store.rollouts import Expected, NewDecision, NewRollout, Rollouts
from baton.store.store import Store
from baton.store.tx import utcnow
from tests.ownership_factory import World, build_world

A = Holder(101, "host-a")
B = Holder(202, "host-b")


class Clock:
    """A clock the test moves by hand, so a lease expires without waiting."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(store: Store, clock: Clock) -> Rollouts:
    return Rollouts(store.engine, clock)


def canary(to: int = 2, **kw: object) -> NewRollout:
    return NewRollout(model="toy", from_version=1, to_version=to, baseline_version=1, **kw)  # type: ignore[arg-type]


def split(canary_pct: int, baseline: int | None = None) -> Weights:
    base = canary_pct if baseline is None else baseline
    return Weights(stable=100 - canary_pct - base, baseline=base, canary=canary_pct)


def test_start_records_it_and_a_second_active_one_is_refused(world: World, repo: Rollouts) -> None:
    first = repo.start(canary(spec=RolloutSpec(steps=(10, 50), interval_s=2)), "sam", "release")
    assert (first.phase, first.step, first.failed_checks) == (Phase.INITIALIZING, 0, 0)
    assert (first.model, first.from_version, first.to_version, first.baseline_version) == (
        "toy", 1, 2, 1,
    )  # fmt: skip
    assert first.weights == Weights(stable=100) and first.spec.steps == (10, 50)
    assert first.target is RolloutTarget.LOCAL and first.lease is None and first.active
    assert repo.active("toy") == first == repo.get(first.id)
    with pytest.raises(Conflict, match=rf"toy already has rollout #{first.id} in progress "
                       r"\(1 -> 2, initializing at step 0, started by sam\)"):  # fmt: skip
        repo.start(canary(to=3), "sue", "mine too")
    log = world.actions()
    assert log[:2] == ["rollout.start.refused", "rollout.start"]
    done = repo.update(first.id, Change(phase=Phase.ABORTED), expected=Expected.of(first),
                       actor="sam", reason="changed my mind")  # fmt: skip
    assert done.finished_at is not None and done.reason == "changed my mind"
    assert repo.active("toy") is None
    second = repo.start(canary(to=3), "sue", "now")
    assert [r.id for r in repo.list("toy")] == [second.id, first.id]
    assert repo.list("toy") == repo.list()


def test_start_checks_versions_the_model_and_the_promotion(world: World, repo: Rollouts) -> None:
    with pytest.raises(BadInput, match="toy:1 is both the stable version and the canary"):
        repo.start(NewRollout("toy", 1, 1), "sam")
    with pytest.raises(NotFound, match="toy has no version 9"):
        repo.start(canary(to=9), "sam")
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        repo.start(NewRollout("nope", 1, 2), "sam")
    with pytest.raises(NotFound, match="toy has no promotion #77"):
        repo.start(canary(promotion_id=77), "sam")
    p, who = world.gov.promotions, world.people
    world.evaluate(3)
    staged = p.promote("toy", 3, Target.STAGING, who["alice"], "ready")
    with pytest.raises(BadInput, match=f"promotion #{staged.id} moves toy:3 to staging"):
        repo.start(canary(to=3, promotion_id=staged.id), "sam")
    assert repo.list("toy") == []


def test_the_database_refuses_a_second_active_row(world: World, repo: Rollouts) -> None:
    """Even a writer that skips the check cannot put two active rollouts on one model."""
    first = repo.start(canary(), "sam")
    with repo.engine.connect() as conn:
        found = conn.execute(sa.select(rollouts).where(rollouts.c.id == first.id)).one()
    row = dict(found._mapping)
    row.pop("id")
    with pytest.raises(sa.exc.IntegrityError), repo.engine.begin() as conn:
        conn.execute(rollouts.insert().values(**row))
    row["slot"] = None  # a finished one is no clash
    with repo.engine.begin() as conn:
        conn.execute(rollouts.insert().values(**row))


def test_concurrent_starts_exactly_one_wins(world: World, repo: Rollouts) -> None:
    barrier = threading.Barrier(3)

    def start(to: int) -> str:
        barrier.wait()
        try:
            return f"won {repo.start(canary(to=to), 'sam').to_version}"
        except Conflict as exc:
            return exc.message

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(start, [2, 3, 2]))
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1, results
    assert all("already has rollout #" in r for r in results if not r.startswith("won"))
    assert len(repo.list("toy")) == 1


def test_updates_are_compare_and_set(world: World, repo: Rollouts) -> None:
    r = repo.start(canary(), "sam")
    going = repo.update(r.id, Change(phase=Phase.PROGRESSING, weights=split(5)),
                        expected=Expected.of(r), actor="controller")  # fmt: skip
    assert (going.phase, going.step, going.weights) == (Phase.PROGRESSING, 0, split(5))
    with pytest.raises(Conflict, match="it is progressing at step 0, not initializing at step 0"):
        repo.update(r.id, Change(phase=Phase.PAUSED), expected=Expected.of(r), actor="sam")
    barrier = threading.Barrier(2)

    def move(change: Change) -> str:
        barrier.wait()
        try:
            return repo.update(r.id, change, expected=Expected.of(going), actor="x").phase.value
        except Conflict:
            return "lost"

    with ThreadPoolExecutor(2) as pool:
        outcome = sorted(pool.map(move, [Change(phase=Phase.PAUSED),
                                         Change(step=1, weights=split(10))]))  # fmt: skip
    assert outcome[0] == "lost" and outcome[1] in ("paused", "progressing")
    assert world.actions().count("rollout.update") == 2


def test_phase_rules_and_what_finishing_does(world: World, repo: Rollouts) -> None:
    r = repo.start(canary(spec=RolloutSpec(steps=(10, 50))), "sam")
    with pytest.raises(Conflict, match="cannot become succeeded"):
        repo.update(r.id, Change(phase=Phase.SUCCEEDED), expected=Expected.of(r), actor="x")
    with pytest.raises(BadInput, match="it has steps 0 to 2"):
        repo.update(r.id, Change(step=3), expected=Expected.of(r), actor="x")
    r = repo.update(r.id, Change(phase=Phase.PROGRESSING), expected=Expected.of(r), actor="x")
    repo.claim(r.id, A, 30)
    r = repo.update(r.id, Change(phase=Phase.PROMOTING, step=2, weights=Weights(stable=0,
                    canary=100)), expected=Expected.of(r), actor="x", holder=A)  # fmt: skip
    done = repo.update(r.id, Change(phase=Phase.SUCCEEDED), expected=Expected.of(r),
                       actor="x", reason="every step passed", holder=A)  # fmt: skip
    assert done.phase is Phase.SUCCEEDED and not done.active and done.lease is None
    assert done.finished_at is not None and done.reason == "every step passed"
    with pytest.raises(Conflict, match="has succeeded: a finished rollout never changes"):
        repo.update(r.id, Change(phase=Phase.ABORTED), expected=Expected.of(done), actor="x")
    with pytest.raises(Conflict, match="nothing to run"):
        repo.claim(r.id, B, 30)
    with pytest.raises(NotFound, match="there is no rollout #999"):
        repo.get(999)


def test_a_decision_keeps_its_numbers_and_its_change_in_one_transaction(
    world: World, repo: Rollouts
) -> None:
    r = repo.start(canary(), "sam")
    r = repo.update(r.id, Change(phase=Phase.PROGRESSING, weights=split(5)),
                    expected=Expected.of(r), actor="controller")  # fmt: skip
    latency = MetricResult(
        classification=Classification.HIGH, canary=0.012, baseline=0.008, n_canary=240,
        n_baseline=251, statistic=0.004, p_value=0.001, ci_low=0.003, ci_high=0.005,
        effect=0.004, message="canary slower by 4 ms", values={"ratio": 1.5},
    )  # fmt: skip
    errors = MetricResult(classification=Classification.PASS, critical=True, canary=0.0)
    judged = NewDecision(step=0, weights=split(5), score=50.0, decision=Decision.FAIL,
                         reason="latency high",
                         metrics={"latency": latency, "errors": errors})  # fmt: skip
    d = repo.record_decision(r.id, judged, expected=Expected.of(r), actor="controller",
                             change=Change(failed_checks=1))  # fmt: skip
    (back,) = repo.decisions(r.id)
    assert back == d
    assert back.metrics["latency"] == latency and back.metrics["errors"].critical
    assert back.metrics["latency"].classification is Classification.HIGH
    assert (back.score, back.decision, back.weights) == (50.0, Decision.FAIL, split(5))
    assert repo.get(r.id).failed_checks == 1
    stale = NewDecision(0, split(5), 100.0, Decision.ADVANCE, "all pass")
    with pytest.raises(Conflict, match="moved meanwhile"):
        repo.record_decision(r.id, stale, expected=Expected(Phase.INITIALIZING, 0), actor="c",
                             change=Change(step=1, weights=split(10)))  # fmt: skip
    with pytest.raises(BadInput, match="score is 0 to 100"):
        repo.record_decision(r.id, NewDecision(0, split(5), float("nan"), Decision.HOLD, "?"),
                             expected=Expected.of(r), actor="c")  # fmt: skip
    assert len(repo.decisions(r.id)) == 1  # the refused ones left nothing behind
    log = world.actions()
    assert log[:2] == ["rollout.update", "rollout.decision"]
    entry = world.store.registry.log_entries("toy", limit=2)[1]
    assert entry.detail["metrics"] == {"latency": "high", "errors": "pass"}
    assert entry.reason == "latency high"


def test_the_lease_one_controller_at_a_time_and_take_over_after_expiry(
    world: World, repo: Rollouts, clock: Clock
) -> None:
    r = repo.start(canary(), "sam")
    assert [x.id for x in repo.resumable()] == [r.id]
    held = repo.claim(r.id, A, ttl_s=30)
    assert held.lease is not None and held.lease.holder == A
    assert held.lease.expires_at == clock.now + timedelta(seconds=30)
    assert repo.resumable() == []
    with pytest.raises(Conflict, match=r"is run by the controller pid 101 on host-a .*good "
                       r"for 30 s more"):  # fmt: skip
        repo.claim(r.id, B, ttl_s=30)
    clock.advance(20)
    assert repo.renew(r.id, A, ttl_s=30).expires_at == clock.now + timedelta(seconds=30)
    clock.advance(29)
    with pytest.raises(Conflict):
        repo.claim(r.id, B, ttl_s=30)  # renewed: still A's
    clock.advance(2)  # A went silent past its lease
    assert [x.id for x in repo.resumable()] == [r.id]
    taken = repo.claim(r.id, B, ttl_s=30)
    assert taken.lease is not None and taken.lease.holder == B
    with pytest.raises(Conflict, match="pid 101 on host-a no longer holds .* pid 202 on host-b"):
        repo.renew(r.id, A, ttl_s=30)
    with pytest.raises(Conflict, match="must stop acting on it"):
        repo.update(r.id, Change(phase=Phase.PAUSED), expected=Expected.of(r), actor="a",
                     holder=A)  # fmt: skip
    repo.update(r.id, Change(phase=Phase.PAUSED), expected=Expected.of(r), actor="b", holder=B)
    repo.release(r.id, B)
    repo.release(r.id, B)  # twice: nothing to do
    assert repo.get(r.id).lease is None
    claims = [e for e in world.store.registry.log_entries("toy", limit=50)
              if e.action == "rollout.lease.claim"]  # fmt: skip
    assert [c.detail["took_over_from"] for c in claims] == ["pid 101 on host-a", None]
    assert claims[0].actor == "controller:host-b:202"
    assert "rollout.lease.release" in world.actions()


def test_every_change_is_in_the_sealed_audit_log(world: World, repo: Rollouts) -> None:
    r = repo.start(canary(), "sam", "release 2")
    repo.claim(r.id, A, 30)
    r = repo.update(r.id, Change(phase=Phase.PROGRESSING, weights=split(5)),
                    expected=Expected.of(r), actor="c", holder=A)  # fmt: skip
    repo.record_decision(r.id, NewDecision(0, split(5), 100.0, Decision.ADVANCE, "pass"),
                         expected=Expected.of(r), actor="c", holder=A,
                         change=Change(step=1, weights=split(10)))  # fmt: skip
    repo.release(r.id, A)
    assert world.actions()[:6] == [
        "rollout.lease.release", "rollout.update", "rollout.decision", "rollout.update",
        "rollout.lease.claim", "rollout.start",
    ]  # fmt: skip
    step = world.store.registry.log_entries("toy", limit=3)[1]
    assert step.detail == {
        "rollout": r.id, "phase": "progressing", "from_phase": "progressing", "step": 1,
        "from_step": 0, "weights": {"stable": 80, "baseline": 10, "canary": 10},
        "failed_checks": 0,
    }  # fmt: skip
    assert world.store.registry.verify_log().intact


def test_a_stored_record_baton_cannot_read_is_corrupt(world: World, repo: Rollouts) -> None:
    r = repo.start(canary(), "sam")
    with repo.engine.begin() as conn:
        conn.execute(rollouts.update().where(rollouts.c.id == r.id).values(weights={"stable": 90}))
    with pytest.raises(Corrupt, match=rf"rollout #{r.id} has a stored record .*sum to 90"):
        repo.get(r.id)


def test_an_orphaned_rollout_is_audited_only_while_nobody_holds_it(
    world: World, repo: Rollouts, clock: Clock
) -> None:
    r = repo.start(canary(), "sam")
    assert repo.orphaned(r.id, "keeper:h:1", "never claimed")  # no lease at all
    repo.claim(r.id, A, ttl_s=30)
    assert not repo.orphaned(r.id, "keeper:h:1", "held")  # A's lease is good
    clock.advance(31)
    assert repo.orphaned(r.id, "keeper:h:1", "A died")
    entries = [e for e in world.store.registry.log_entries("toy", limit=10)
               if e.action == "rollout.adopt"]  # fmt: skip
    assert [e.reason for e in entries] == ["A died", "never claimed"]
    assert entries[0].actor == "keeper:h:1" and entries[0].detail["last_holder"] == str(A)
    assert entries[0].detail["step"] == 0 and entries[1].detail["last_holder"] is None
    repo.claim(r.id, B, ttl_s=30)
    repo.update(r.id, Change(phase=Phase.ABORTED), expected=Expected.of(repo.get(r.id)),
                actor="c", holder=B)  # fmt: skip
    clock.advance(31)
    assert not repo.orphaned(r.id, "keeper:h:1", "over")  # finished: nothing to adopt

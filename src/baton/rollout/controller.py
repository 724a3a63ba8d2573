"""The canary controller: one process per rollout, holding the store's lease, moving the
rollout from step to step on the judge's word until it is promoted or rolled back.

Each interval it waits (watching the store: a person may pause, resume, abort or promote
meanwhile), has the judge read the interval, decides the move (``core/canary_steps.py``),
records the decision and its change in one transaction (compare and set, under its lease)
and only then moves the traffic. So the store always says at least as much as the traffic
does; a restarted controller takes the lease over (once the old one expired) and first
routes what the record says, then carries on: traffic is never left half-shifted without
an owner for longer than a lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from baton.core.canary_profiles import lease_ttl_s
from baton.core.canary_steps import next_move, unreadable_in_a_row, weights_at
from baton.core.rollout_records import Change, Decision, Holder, Lease, Phase, RolloutRecord
from baton.errors import BatonError, Conflict
from baton.rollout.controller_parts import Judge, Traffic
from baton.rollout.supervise import Backoff
from baton.store.canaries import Canaries
from baton.store.rollouts import Expected, NewDecision

log = logging.getLogger("baton.canary")

SETTLE_S = 1.5  # an interval ends this long before now: the last scrape must have happened


class LeaseLost(BatonError):
    """Another controller holds the rollout now: this one stops touching it at once."""


@dataclass
class Timing:
    """The controller's clocks, passed in so a test can run the loop faster."""

    now: Callable[[], float] = time.time
    poll_s: float = 0.25  # how often the store is read while waiting
    settle_s: float = SETTLE_S
    mend_s: float = 2.0  # how often the servers are checked while waiting


class Controller:
    def __init__(
        self,
        canaries: Canaries,
        rollout_id: int,
        holder: Holder,
        judge: Judge,
        traffic: Traffic,
        timing: Timing | None = None,
    ) -> None:
        self.canaries = canaries
        self.rollouts = canaries.rollouts
        self.id = rollout_id
        self.holder = holder
        self.judge = judge
        self.traffic = traffic
        self.timing = timing or Timing()
        self.actor = f"controller:{holder.host}:{holder.pid}"
        self._lost = threading.Event()
        self._stop = threading.Event()
        self.window_start = 0.0  # the judged interval starts here (unix seconds)
        self.step_since = 0.0  # when the current step got its traffic
        self.unreadable = 0
        self.ready = False  # the judge's inputs exist for both variants
        self.mended_at = 0.0  # when the servers were last checked (``Traffic.mend``)
        self.mends = Backoff(clock=self.timing.now)  # a server that will not start

    # -- the lease ------------------------------------------------------------------------

    def _heartbeat(self, ttl: float) -> None:
        while not self._stop.wait(ttl / 3):
            try:
                self.rollouts.renew(self.id, self.holder, ttl)
            except Conflict as exc:
                log.error("%s", exc.message)
                self._lost.set()
                return
            except BatonError as exc:  # the database is away: try again at the next beat
                log.warning("heartbeat failed: %s", exc.message)

    def _check_lease(self) -> None:
        if self._lost.is_set():
            raise LeaseLost(f"the controller {self.holder} lost rollout #{self.id}: it stops")

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> RolloutRecord:
        """Run the rollout to its end (or until the lease is lost); the final record."""
        record = self.rollouts.get(self.id)
        previous = record.lease
        ttl = lease_ttl_s(record.spec)
        record = self.rollouts.claim(self.id, self.holder, ttl)
        beat = threading.Thread(target=self._heartbeat, args=(ttl,), daemon=True)
        beat.start()
        try:
            self._resume(record, previous)
            while record.active:
                self._check_lease()
                record = self._act(self.rollouts.get(self.id))
            return record
        finally:
            self._stop.set()
            beat.join(timeout=5)
            if not self._lost.is_set():
                self._release()

    def _release(self) -> None:
        try:
            current = self.rollouts.get(self.id)
            if current.active:
                self.rollouts.release(self.id, self.holder)
        except BatonError as exc:
            log.warning("could not release the lease: %s", exc.message)

    def _resume(self, record: RolloutRecord, previous: Lease | None = None) -> None:
        """Route what the record says (the predecessor may have died before it did).

        The time nobody held the rollout (since the predecessor's last heartbeat) does not
        count toward the step's deadline: an orphaned step judged nothing, and a version
        is not rolled back for its controller's death."""
        now = self.timing.now()
        decisions = self.rollouts.decisions(self.id)
        advanced = [d.at.timestamp() for d in decisions if d.decision is Decision.ADVANCE]
        self.step_since = max([record.started_at.timestamp(), *advanced])
        if previous is not None and previous.holder != self.holder:
            self.step_since += max(0.0, now - max(previous.heartbeat_at.timestamp(),
                                                  self.step_since))  # fmt: skip
        self.unreadable = unreadable_in_a_row(decisions)
        self.window_start = now
        if record.phase in (Phase.PROGRESSING, Phase.PAUSED):
            self.traffic.prepare(record)
            self.traffic.route(record, record.weights, f"{self.actor} resumes rollout #{record.id}")

    def _act(self, record: RolloutRecord) -> RolloutRecord:
        if record.phase is Phase.INITIALIZING:
            return self._begin(record)
        if record.phase is Phase.PROGRESSING:
            return self._interval(record)
        if record.phase is Phase.PAUSED:
            return self._paused(record)
        if record.phase is Phase.PROMOTING:
            return self._promote(record)
        if record.phase is Phase.ROLLING_BACK:
            return self._rollback(record)
        return record

    def _begin(self, record: RolloutRecord) -> RolloutRecord:
        self.traffic.prepare(record)
        weights = weights_at(record.spec, 0)
        why = f"baseline and canary serve; step 1: canary {weights.canary} %"
        record = self._update(record, Change(phase=Phase.PROGRESSING, step=0, weights=weights), why)
        self._route(record, why)
        return record

    def _route(self, record: RolloutRecord, why: str) -> None:
        self.traffic.route(record, record.weights, why)
        self.window_start = self.step_since = self.timing.now()

    def _update(self, record: RolloutRecord, change: Change, why: str) -> RolloutRecord:
        return self.rollouts.update(self.id, change, expected=Expected.of(record),
                                    actor=self.actor, reason=why, holder=self.holder)  # fmt: skip

    def _wait(self, record: RolloutRecord, until: float) -> RolloutRecord | None:
        """Wait until ``until``, mending the servers; the record if it moved meanwhile (a
        person acted)."""
        while self.timing.now() < until:
            self._check_lease()
            self._mend()
            time.sleep(min(self.timing.poll_s, max(0.0, until - self.timing.now())))
            current = self.rollouts.get(self.id)
            if (current.phase, current.step) != (record.phase, record.step):
                return current
        return None

    def _mend(self) -> None:
        """Every ``mend_s``: dead servers started again, the step routed again if the
        router lost it (``Traffic.mend``). A failure is tried again after 1 s, 2, 4, ...
        up to 30 s; the rollout carries on meanwhile."""
        if self.timing.now() - self.mended_at < self.timing.mend_s or self.mends.waiting():
            return
        self.mended_at = self.timing.now()
        record = self.rollouts.get(self.id)
        if record.phase not in (Phase.PROGRESSING, Phase.PAUSED):
            return
        try:
            self.traffic.mend(record)
        except BatonError as exc:
            log.error("rollout #%s: could not mend its servers (again in %g s): %s", self.id,
                      self.mends.failed(), exc.message)  # fmt: skip
        else:
            self.mends.reset()

    def _await_inputs(self, record: RolloutRecord) -> RolloutRecord | None:
        """Wait until the judge can read both variants (or the step's deadline passed:
        then judge, and no data rolls back); the record if a person moved it meanwhile."""
        while not self.judge.ready(record):
            if self.timing.now() - self.step_since >= record.spec.deadline_s:
                break
            moved = self._wait(record, self.timing.now() + self.timing.poll_s)
            if moved is not None:
                return moved
        self.ready = True
        self.window_start = max(self.window_start, self.timing.now())
        return None

    def _interval(self, record: RolloutRecord) -> RolloutRecord:
        if not self.ready:
            moved = self._await_inputs(record)
            if moved is not None:
                return moved
        end = self.window_start + record.spec.interval_s
        moved = self._wait(record, end + self.timing.settle_s)
        if moved is not None:
            return moved
        judgement = self.judge.judge(record, self.window_start, end)
        self.window_start = end
        age = self.timing.now() - self.step_since
        move = next_move(record, judgement, unreadable_before=self.unreadable, step_age_s=age)
        self.unreadable = self.unreadable + 1 if judgement.outcome == "unreadable" else 0
        decision = NewDecision(step=record.step, weights=record.weights, score=judgement.score,
                               decision=move.decision, reason=move.reason,
                               metrics=dict(judgement.metrics))  # fmt: skip
        alert = move.reason if move.decision is Decision.PAUSE else None
        try:
            self.rollouts.record_decision(self.id, decision, expected=Expected.of(record),
                                          actor=self.actor, change=move.change,
                                          holder=self.holder, alert=alert)  # fmt: skip
        except Conflict:
            self._check_lease()
            return self.rollouts.get(self.id)  # a person moved it first: theirs stands
        log.info("rollout #%s step %s: %s (%s)", self.id, record.step, move.decision.value,
                 move.reason)  # fmt: skip
        after = self.rollouts.get(self.id)
        if move.decision is Decision.ADVANCE:
            self._route(after, move.reason)
        return after

    def _paused(self, record: RolloutRecord) -> RolloutRecord:
        moved = self._wait(record, float("inf"))
        assert moved is not None
        if moved.phase is Phase.PROGRESSING:  # resumed: a fresh interval and deadline
            self.unreadable = 0
            self.window_start = self.step_since = self.timing.now()
        return moved

    def _promote(self, record: RolloutRecord) -> RolloutRecord:
        asked = self.rollouts.asked(record.model, record.id, Phase.PROMOTING)
        why = "every step passed"
        if asked is not None and not asked[0].startswith("controller:"):
            why = f"promoted by {asked[0]}, skipping the steps left: {asked[1] or 'no reason'}"
        self.traffic.promote(record, why)
        done = self.canaries.promoted(record, self.actor, self.holder, why)
        self.traffic.retire(done, promoted=True)
        return done

    def _rollback(self, record: RolloutRecord) -> RolloutRecord:
        asked = self.rollouts.asked(record.model, record.id, Phase.ROLLING_BACK)
        phase, why = Phase.FAILED, "rolled back"
        decisions = self.rollouts.decisions(self.id)
        if decisions and decisions[-1].decision is Decision.ROLLBACK:
            why = decisions[-1].reason
        elif asked is not None and not asked[0].startswith("controller:"):
            phase, why = Phase.ABORTED, f"aborted by {asked[0]}: {asked[1] or 'no reason'}"
        self.traffic.rollback(record, why)
        done = self.canaries.rolled_back(record, phase, self.actor, self.holder, why)
        self.traffic.retire(done, promoted=False)
        return done

"""What the canary controller drives: the traffic (a router, or an InferenceService) and the
judge (Prometheus and ``core/canary_judge.py``), as protocols the controller calls.

``rollout/local_traffic.py`` and ``rollout/kserve_traffic.py`` move traffic;
``rollout/judging.py`` reads and judges an interval. Every traffic call is idempotent: a
restarted controller calls again what the record says, whether or not its predecessor's
call got through before it died.
"""

from __future__ import annotations

from typing import Protocol

from baton.core.canary_steps import Judgement
from baton.core.rollout_records import RolloutRecord, Weights


class Traffic(Protocol):
    def prepare(self, rollout: RolloutRecord) -> None:
        """Have the baseline and the canary running (no traffic yet)."""

    def route(self, rollout: RolloutRecord, weights: Weights, reason: str) -> None:
        """Send ``weights`` of the traffic to stable, baseline and canary."""

    def promote(self, rollout: RolloutRecord, reason: str) -> None:
        """Send all traffic to the canary, which becomes the stable version."""

    def rollback(self, rollout: RolloutRecord, reason: str) -> None:
        """Send all traffic to the stable version."""

    def retire(self, rollout: RolloutRecord, promoted: bool) -> None:
        """Stop what no longer gets traffic (the old stable and the baseline after a
        promotion; the baseline and the canary after a rollback)."""

    def mend(self, rollout: RolloutRecord) -> bool:
        """Between steps: start again a stable or baseline server that died (each takes its
        share of the requests) and route ``rollout.weights`` again, also when the router
        applies another table; whether it did anything. A platform that restarts its own
        containers (KServe) has nothing to do."""


class Judge(Protocol):
    def ready(self, rollout: RolloutRecord) -> bool:
        """Whether the judge's inputs exist for both variants (Prometheus found and scraped
        the servers started a moment ago): the first interval starts then."""

    def judge(self, rollout: RolloutRecord, start: float, end: float) -> Judgement:
        """Judge the canary against the baseline over ``[start, end]`` (unix seconds)."""

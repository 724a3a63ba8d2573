"""The canary's profiles: ``production`` (the notes' defaults) and ``test`` (everything
shrunk so an integration test's scenario runs in well under a minute). Pure.

production: steps 5, 10, 25, 50 % then 100; 60 s intervals; 200 canary requests a step;
a step without progress for 600 s rolls back; 3 failed checks roll back; 4 unreadable
intervals in a row pause (``shared/notes/deploy.md`` §B).

test: steps 10, 25, 50 % then 100; 5 s intervals; 25 requests; 20 s deadline; 2 failed
checks; 2 unreadable intervals pause; a 1 s p99 guardrail and latency allowed to triple
(a loaded test machine's scheduling moves a millisecond-fast model's latency by a
millisecond or two, which is not the model's doing).
"""

from __future__ import annotations

from typing import Literal

from baton.core.rollout_records import RolloutSpec, Thresholds
from baton.errors import BadInput

Profile = Literal["production", "test"]
PROFILES: tuple[Profile, ...] = ("production", "test")


def spec_for(profile: str, **overrides: object) -> RolloutSpec:
    """The profile's spec with any given fields replaced (None: keep the profile's)."""
    if profile == "production":
        base = RolloutSpec()
    elif profile == "test":
        base = RolloutSpec(
            steps=(10, 25, 50), interval_s=5.0, min_requests=25, deadline_s=20.0,
            thresholds=Thresholds(failed_checks=2, consecutive_errors=2, p99_max_ms=1000.0,
                                  latency_allowed_increase=3.0),
        )  # fmt: skip
    else:
        raise BadInput(f"unknown profile {profile!r}: use {' or '.join(PROFILES)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return base
    return RolloutSpec.model_validate({**base.model_dump(), **given})


def lease_ttl_s(spec: RolloutSpec) -> float:
    """How long a controller's lease lasts without a heartbeat: an interval, within 5..30 s
    (a killed controller's rollout is taken over that long after its last heartbeat)."""
    return min(30.0, max(5.0, spec.interval_s))

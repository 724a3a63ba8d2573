"""Deployments and canaries behind one interface, on the store here or through ``baton api``.

``RolloutControl`` is to ``baton deploy up | down | status`` and ``baton canary start | status
| pause | resume | abort | promote`` what ``Control`` is to the registry: ``LocalRollouts``
calls the rollout services with this machine's settings (the CLI, the SDK, and the API
routes, which build it acting as the token's owner); ``client.RemoteControl`` sends the same
calls to a control plane. The rollout package loads only when a method runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from baton.errors import BadInput

if TYPE_CHECKING:
    from baton.config import Settings
    from baton.core.deployment_records import DeploymentRecord
    from baton.core.rollout_records import RolloutRecord, RolloutSpec
    from baton.rollout.canary_service import CanaryStatus
    from baton.rollout.deploy_status import DeploymentStatus
    from baton.store.store import Store

STEERED = ("pause", "resume", "abort", "promote")
MAX_PAGE = 100


@dataclass(frozen=True)
class CanaryPlan:
    """How a canary proceeds, as ``baton canary start`` takes it: a profile, and the fields
    to change (None: the profile's)."""

    profile: str = "production"
    steps: tuple[int, ...] | None = None
    interval_s: float | None = None
    min_requests: int | None = None
    deadline_s: float | None = None

    def spec(self) -> RolloutSpec:
        from pydantic import ValidationError

        from baton.core.canary_profiles import spec_for
        from baton.core.manifest import describe_validation_error

        try:
            return spec_for(self.profile, steps=self.steps, interval_s=self.interval_s,
                            min_requests=self.min_requests, deadline_s=self.deadline_s)  # fmt: skip
        except ValidationError as exc:
            raise BadInput(f"the canary's plan: {describe_validation_error(exc)}") from None


class RolloutControl(Protocol):
    def deploy_up(
        self, model: str, drain_timeout_s: float, why: str | None
    ) -> DeploymentRecord: ...
    def deploy_down(
        self, model: str, drain_timeout_s: float, why: str | None
    ) -> DeploymentRecord: ...
    def deployments(self, model: str | None) -> list[DeploymentStatus]: ...
    def canary_start(
        self, model: str, version: int, why: str | None, plan: CanaryPlan
    ) -> RolloutRecord: ...
    def canary_steer(self, model: str, action: str, why: str | None) -> RolloutRecord: ...
    def canary_status(self, model: str) -> CanaryStatus: ...
    def rollouts(
        self, model: str, limit: int = 20, offset: int = 0
    ) -> tuple[list[RolloutRecord], int | None]: ...


class LocalRollouts:
    """The rollout services on this machine's store, acting as ``settings.user``; the
    processes they start run here, under ``settings.home``."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def deploy_up(self, model: str, drain_timeout_s: float, why: str | None) -> DeploymentRecord:
        from baton.rollout.local_deploy import Launch, up

        return up(Launch(self.settings, drain_timeout_s=drain_timeout_s), self.store, model, why)

    def deploy_down(self, model: str, drain_timeout_s: float, why: str | None) -> DeploymentRecord:
        from baton.rollout.local_deploy import Launch, down

        launch = Launch(self.settings, drain_timeout_s=drain_timeout_s)
        return down(launch, self.store, model, why)

    def deployments(self, model: str | None) -> list[DeploymentStatus]:
        from baton.rollout.deploy_status import deployment_status

        return deployment_status(self.store, model, self.settings)

    def canary_start(
        self, model: str, version: int, why: str | None, plan: CanaryPlan
    ) -> RolloutRecord:
        from baton.rollout.canary_service import start

        return start(self.settings, self.store, model, version, plan.spec(), why)

    def canary_steer(self, model: str, action: str, why: str | None) -> RolloutRecord:
        from baton.core.canary_roles import CanaryAction
        from baton.rollout.canary_service import steer

        if action not in STEERED:
            raise BadInput(f"canary action {action!r}: use {', '.join(STEERED)}")
        return steer(self.settings, self.store, model, CanaryAction(action), why)

    def canary_status(self, model: str) -> CanaryStatus:
        from baton.rollout.canary_service import status

        return status(self.store, model, self.settings)

    def rollouts(
        self, model: str, limit: int = 20, offset: int = 0
    ) -> tuple[list[RolloutRecord], int | None]:
        return rollout_page(self.store, model, limit, offset)


def rollout_page(
    store: Store, model: str, limit: int, offset: int
) -> tuple[list[RolloutRecord], int | None]:
    """A page of the model's rollouts, newest first, and the offset of the next page (None:
    this was the last)."""
    from baton.store.rollouts import Rollouts

    if not (1 <= limit <= MAX_PAGE and offset >= 0):
        raise BadInput(f"limit {limit}, offset {offset}: limit 1 to {MAX_PAGE}, offset 0 or more")
    found = Rollouts(store.engine).list(model, limit=offset + limit + 1)
    more = len(found) > offset + limit
    return found[offset : offset + limit], offset + limit if more else None


def rollout_control(settings: Settings, store: Callable[[], Store]) -> RolloutControl:
    """The control plane at BATON_URL as the owner of BATON_TOKEN, else the store here
    (opened by ``store``) acting as BATON_USER."""
    if settings.url:
        from baton.client import RemoteControl
        from baton.connect import connect

        control = connect(settings, store)
        assert isinstance(control, RemoteControl)
        return control
    return LocalRollouts(settings, store())

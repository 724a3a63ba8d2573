"""``baton.Client``: registry, gate, promotion, serving and the right-size audit from Python.

A thin edge, like the CLI: each method calls the service function the matching command
calls, with the same rules and the same audit-log entries, and hands back the same typed
records. The registry and promotion go through the ``Control`` interface, so they work on
the local store (acting as ``user``) or through a ``baton api`` control plane (``url`` +
``token``, acting as the token's owner). Registering, evaluating, serving and the right-size
audit of servers read the store itself, which a remote client does not reach: they say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from baton.config import Settings
from baton.core.refs import Ref, against_ref, parse_ref
from baton.errors import BadInput, FailedCheck, NotFound

if TYPE_CHECKING:
    from baton.audit.result import AuditResult
    from baton.core.deployment_records import DeploymentRecord
    from baton.core.rollout_records import RolloutRecord
    from baton.core.served_at import History
    from baton.rollout.canary_service import CanaryStatus
    from baton.rollout.deploy_status import DeploymentStatus
    from baton.rollout_control import RolloutControl
    from baton.serve.background import Serving
    from baton.store.approvals import PromotionInfo
    from baton.store.evaluations import EvaluationRecord
    from baton.store.governance import Control, NewUser
    from baton.store.people import Person, TeamInfo
    from baton.store.registry import LogEntry, ModelInfo, Registered, VersionInfo
    from baton.store.store import Store

Mode = Literal["quick", "default", "full"]


def _version_ref(text: str) -> Ref:
    ref = parse_ref(text)
    if ref.version is None:
        raise BadInput(f"name the version: NAME:VERSION, as in {ref.name}:3")
    return ref


class Client:
    """baton from Python: ``Client(home=...)`` for a local store, ``Client(url=..., token=...)``
    for a control plane. Arguments left out come from the ``BATON_*`` environment, as for
    the ``baton`` command. Close it (or use ``with``) to release the database."""

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        user: str | None = None,
        db_url: str | None = None,
        artifacts: str | Path | None = None,
        policy: str | Path | None = None,
        prometheus_url: str | None = None,
    ) -> None:
        from pydantic import ValidationError

        from baton.core.manifest import describe_validation_error

        given: dict[str, Any] = {
            "home": home, "url": url, "token": token, "user": user, "db_url": db_url,
            "artifacts": artifacts, "policy": policy, "prometheus_url": prometheus_url,
        }  # fmt: skip
        try:
            self._settings = Settings(**{k: v for k, v in given.items() if v is not None})
        except ValidationError as exc:
            raise BadInput(f"baton.Client settings: {describe_validation_error(exc)}") from None
        self._store: Store | None = None
        self._control: Control | None = None
        self._rollout: RolloutControl | None = None

    @property
    def remote(self) -> bool:
        """True when this client talks to a control plane (``url``), not to the store."""
        return bool(self._settings.url)

    def close(self) -> None:
        close = getattr(self._control, "close", None)
        if close is not None:
            close()
        if self._store is not None:
            self._store.close()
        self._store = self._control = self._rollout = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self._settings.url or str(self._settings.home)
        return f"<baton.Client {where}>"

    # -- where the work happens ----------------------------------------------------------

    def _local(self, what: str) -> Store:
        """The store itself; refused, saying so, for a client of a control plane."""
        if self.remote:
            raise BadInput(
                f"{what} works on the store itself, which the control plane at "
                f"{self._settings.url} does not offer: run it where the store is, with "
                "baton.Client(home=...) (or BATON_DB_URL and BATON_ARTIFACTS) and no url"
            )
        if self._store is None:
            from baton.store.store import open_store

            self._store = open_store(self._settings)
        return self._store

    @property
    def _rollouts(self) -> RolloutControl:
        """Deployments and canaries: through the control plane (its machine runs the
        processes), else the rollout services on this machine's store."""
        if self._rollout is None:
            if self.remote:
                from baton.client import RemoteControl

                plane = self._plane
                assert isinstance(plane, RemoteControl)
                self._rollout = plane
            else:
                from baton.rollout_control import LocalRollouts

                self._rollout = LocalRollouts(self._settings, self._local("deployments"))
        return self._rollout

    @property
    def _plane(self) -> Control:
        if self._control is None:
            from baton.connect import connect

            self._control = connect(self._settings, lambda: self._local("the registry"))
        return self._control

    # -- registry ------------------------------------------------------------------------

    def register(
        self, path: str | Path, *, manifest: str | Path | None = None, why: str | None = None
    ) -> Registered:
        """Check a hand-over folder (or a model file with ``manifest``) and register it as
        the model's next version; the same bytes again are reported, not duplicated."""
        from baton.handover.register import register_handover

        store = self._local("register")
        return register_handover(
            store,
            Path(path),
            manifest=None if manifest is None else Path(manifest),
            actor=self._settings.user,
            reason=why,
        )

    def models(self) -> list[ModelInfo]:
        return self._plane.models()

    def model(self, name: str) -> tuple[ModelInfo, list[VersionInfo]]:
        """A model and its versions."""
        return self._plane.model(parse_ref(name).name)

    def show(self, ref: str) -> VersionInfo:
        """One version: ``NAME:N``, ``NAME@ALIAS``, or ``NAME`` (its production, else newest)."""
        return self._plane.resolve(parse_ref(ref))

    def log(self, model: str | None = None, limit: int = 50) -> list[LogEntry]:
        """The append-only audit log, newest first: who did what, when and why."""
        return self._plane.log_entries(model, limit)

    def history(self, name: str, at: str | datetime | None = None) -> History:
        """One model's timeline and what served at ``at`` (default: now), who approved it
        and why. ``at``: an aware datetime, or text as ``baton history --at`` takes it
        (ISO 8601, a local 'YYYY-MM-DD HH:MM', '3 days ago')."""
        from baton.core.instants import parse_instant

        if isinstance(at, datetime) and at.tzinfo is None:
            raise BadInput("history(at=...): give an aware datetime (with tzinfo), or text")
        when = parse_instant(at, datetime.now(UTC), "at") if isinstance(at, str) else at
        return self._plane.history(parse_ref(name).name, when)

    # -- the gate ------------------------------------------------------------------------

    def evaluate(
        self,
        ref: str,
        *,
        against: str | int | None = None,
        mode: Mode = "default",
        policy: str | Path | None = None,
        check: bool = False,
    ) -> EvaluationRecord:
        """Run the gate and store its report. ``record.passed`` says whether it passed;
        ``check=True`` raises ``FailedCheck`` when it did not, as the command exits 1."""
        from baton.evaluate.policy_file import load_policy
        from baton.evaluate.service import evaluate

        if mode not in ("quick", "default", "full"):
            raise BadInput(f"mode {mode!r}: choose quick, default or full")
        store = self._local("evaluate")
        parsed = parse_ref(ref)
        baseline = None if against is None else against_ref(parsed.name, str(against))
        record = evaluate(
            store,
            parsed,
            actor=self._settings.user,
            against=baseline,
            mode=mode,
            policy=load_policy(Path(policy) if policy else self._settings.policy),
        )
        if check and not record.passed:
            what = record.error or ", ".join(record.report.failed_checks()) or "see record.report"
            raise FailedCheck(f"{record.model}:{record.version} did not pass the gate: {what}")
        return record

    def report(self, ref: str) -> EvaluationRecord:
        """The latest evaluation of a version."""
        version = self.show(ref)
        if self.remote:
            found = [
                e for e in self._plane.evaluations(version.model) if e.version == version.number
            ]
            record = found[0] if found else None
        else:
            record = self._local("report").evaluations.latest(version.model, version.number)
        if record is None:
            raise NotFound(f"{version.ref} has not been evaluated yet: evaluate it first")
        return record

    def report_html(self, ref: str) -> str:
        """The latest evaluation as one self-contained HTML page (opens without a network)."""
        from baton.evaluate.report import render_html

        return render_html(self.report(ref))

    # -- people and promotion ------------------------------------------------------------

    def whoami(self) -> Person:
        return self._plane.whoami()

    def add_team(self, name: str, *, why: str | None = None) -> TeamInfo:
        return self._plane.add_team(name, why)

    def add_user(
        self, name: str, *, teams: Sequence[str], admin: bool = False, why: str | None = None
    ) -> NewUser:
        """Add a person; ``.token.token`` is their API token, shown this once."""
        return self._plane.add_user(name, list(teams), admin, why)

    def promote(self, ref: str, to: str, *, why: str) -> PromotionInfo:
        """Ask for ``NAME:N`` to move to staging, production or archived; it waits for the
        accountable teams' approvals (``PromotionInfo.missing``)."""
        from baton.store.approvals import parse_target

        parsed, target = _version_ref(ref), parse_target(to)
        return self._plane.promote(parsed.name, parsed.version or 0, target, why)

    def approve(self, ref: str, stage: str, *, why: str) -> PromotionInfo:
        from baton.store.approvals import parse_target

        parsed, target = _version_ref(ref), parse_target(stage)
        return self._plane.approve(parsed.name, parsed.version or 0, target, why)

    def cancel(self, ref: str, to: str, *, why: str) -> PromotionInfo:
        from baton.store.approvals import parse_target

        parsed, target = _version_ref(ref), parse_target(to)
        return self._plane.cancel(parsed.name, parsed.version or 0, target, why)

    def rollback(self, model: str, *, why: str) -> PromotionInfo:
        return self._plane.rollback(parse_ref(model).name, why)

    def promotions(self, model: str | None = None, *, pending: bool = False) -> list[PromotionInfo]:
        return self._plane.promotions(parse_ref(model).name if model else None, pending)

    # -- deployments and canaries -------------------------------------------------------

    def deploy_up(
        self, model: str, *, drain_timeout: float = 30.0, why: str | None = None
    ) -> DeploymentRecord:
        """``baton deploy up``: the model's @production version behind a router, each in its
        own background process (on the control plane's machine for a remote client)."""
        return self._rollouts.deploy_up(parse_ref(model).name, drain_timeout, why)

    def deploy_down(
        self, model: str, *, drain_timeout: float = 30.0, why: str | None = None
    ) -> DeploymentRecord:
        """``baton deploy down``: stop the router and servers (they drain); refused while a
        canary runs."""
        return self._rollouts.deploy_down(parse_ref(model).name, drain_timeout, why)

    def deployments(self, model: str | None = None) -> list[DeploymentStatus]:
        """``baton deploy status``: each deployment, whether its processes run, the weights
        its router applies now and the canary in progress."""
        return self._rollouts.deployments(parse_ref(model).name if model else None)

    def canary_start(
        self,
        model: str,
        to: int,
        *,
        why: str | None = None,
        profile: str = "production",
        steps: Sequence[int] | None = None,
        interval: float | None = None,
        min_requests: int | None = None,
        deadline: float | None = None,
    ) -> RolloutRecord:
        """``baton canary start MODEL --to N``: roll version ``to`` (approved for production
        through a canary) out behind the model's router; returns once its controller holds
        the rollout. The options are the command's (None: the profile's)."""
        from baton.rollout_control import CanaryPlan

        plan = CanaryPlan(profile, None if steps is None else tuple(steps), interval,
                          min_requests, deadline)  # fmt: skip
        return self._rollouts.canary_start(parse_ref(model).name, to, why, plan)

    def canary_status(self, model: str) -> CanaryStatus:
        """The canary in progress (else the last): its step, each decision with its numbers,
        alerts, and whether a controller holds it."""
        return self._rollouts.canary_status(parse_ref(model).name)

    def canary_pause(self, model: str, *, why: str) -> RolloutRecord:
        return self._rollouts.canary_steer(parse_ref(model).name, "pause", why)

    def canary_resume(self, model: str, *, why: str) -> RolloutRecord:
        return self._rollouts.canary_steer(parse_ref(model).name, "resume", why)

    def canary_abort(self, model: str, *, why: str) -> RolloutRecord:
        """Roll back now: all traffic to the stable version, the promotion cancelled."""
        return self._rollouts.canary_steer(parse_ref(model).name, "abort", why)

    def canary_promote(self, model: str, *, why: str) -> RolloutRecord:
        """Skip the steps left and promote now (the team accountable for deployment)."""
        return self._rollouts.canary_steer(parse_ref(model).name, "promote", why)

    def rollouts(
        self, model: str, *, limit: int = 20, offset: int = 0
    ) -> tuple[list[RolloutRecord], int | None]:
        """A page of the model's rollouts, newest first, and the offset of the next page
        (None: no more)."""
        return self._rollouts.rollouts(parse_ref(model).name, limit, offset)

    # -- serving and the right-size audit ------------------------------------------------

    def serve(
        self,
        *refs: str,
        host: str = "127.0.0.1",
        port: int = 0,
        precision: str | None = None,
        max_batch_size: int | None = None,
        max_queue_delay_ms: float | None = None,
        threads: int | None = None,
        poll_interval: float = 1.0,
        allow_nonfinite: bool = False,
    ) -> Serving:
        """Serve models (``NAME``, ``NAME@ALIAS``, ``NAME:N``) in a background thread, on a
        free port unless ``port`` is given; returns once they answer. The options are
        ``baton serve``'s; settings left out come from the evaluation's recommendation."""
        from baton.serve.background import serve_in_thread
        from baton.serve.options import ServeOptions

        self._local("serve")
        options = ServeOptions(
            refs=refs,
            host=host,
            port=port,
            precision=precision,
            max_batch_size=max_batch_size,
            max_queue_delay_ms=max_queue_delay_ms,
            threads=threads,
            poll_interval_s=poll_interval,
            allow_nonfinite=allow_nonfinite,
        )
        return serve_in_thread(self._settings, options)

    def audit(
        self,
        *,
        prometheus: str | None = None,
        window: str | float = "14d",
        end: datetime | float | None = None,
        rate_window: str | float = "5m",
        fleet: str | Path | None = None,
        manifests: Sequence[str | Path] = (),
        servers: bool = True,
        prices: str | Path | None = None,
        headroom: float = 0.3,
        min_replicas: int = 2,
        risk: float = 0.8,
    ) -> AuditResult:
        """The right-size audit (``baton audit``): usage from Prometheus against allocation,
        capacity and SLO, per deployment. ``prometheus``: when left out, found as the
        command finds it (``prometheus_url``, else the stack ``baton monitor up`` started).
        ``window`` and ``rate_window``: seconds or text such as ``14d``; ``end``: a time
        (default now); ``servers``: include the servers ``baton serve`` recorded in the
        store (a remote client: pass a ``fleet`` instead)."""
        from baton.core.sizing import SizingPolicy
        from baton.sdk_audit import audit

        sizing = SizingPolicy(headroom=headroom, min_replicas=min_replicas, risk_utilization=risk)
        where = "the audit of the servers recorded in the store (servers=True)"
        return audit(
            self._settings,
            self._local(where) if servers else None,
            prometheus=prometheus,
            window=window,
            end=end,
            rate_window=rate_window,
            fleet=fleet,
            manifests=manifests,
            prices=prices,
            policy=sizing,
        )

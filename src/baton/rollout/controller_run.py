"""``baton canary run``: the controller process, wired to its traffic and its judge.

The traffic is the deployment's router (``local``), the InferenceService's apply hook
(``kserve``) or a Compose file's router service (``compose``), the last two with the options
``baton canary start`` kept beside the rollout; the judge
reads ``BATON_PROMETHEUS_URL``. Run with no rollout in progress, it stops the servers a
finished rollout left behind (a controller killed between the end and its clean-up).
"""

from __future__ import annotations

import logging

from baton.config import Settings
from baton.core.canary_profiles import lease_ttl_s
from baton.core.refs import Ref
from baton.core.rollout_records import RolloutRecord, RolloutTarget
from baton.rollout.canary_service import claimable, holder, options_path
from baton.rollout.controller import Controller
from baton.rollout.controller_parts import Traffic
from baton.rollout.judging import PrometheusJudge
from baton.rollout.local_deploy import Launch
from baton.store.canaries import Canaries
from baton.store.deployments import Deployments
from baton.store.store import Store


def traffic_for(settings: Settings, store: Store, rollout: RolloutRecord, actor: str) -> Traffic:
    if rollout.target is RolloutTarget.KSERVE:
        from baton.rollout.kserve_traffic import KServeOptions, KServeTraffic, gather_specs

        options = KServeOptions.load(options_path(settings, rollout.id))
        return KServeTraffic(store, actor, gather_specs(store, rollout, options), options.hook())
    if rollout.target is RolloutTarget.COMPOSE:
        from baton.rollout import compose_traffic as compose

        found = compose.ComposeOptions.load(compose.options_path(settings, rollout.id))
        return compose.ComposeTraffic(settings, found, actor)
    from baton.rollout.local_traffic import LocalTraffic

    return LocalTraffic(Launch(settings), store, actor)


def run(settings: Settings, store: Store, model: str) -> RolloutRecord | None:
    """Run the model's active canary to its end; None when there was none (then tidy)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per query
    canaries = Canaries(store.engine, store.registry)
    current = canaries.rollouts.active(model)
    if current is None:
        tidy(settings, store, model)
        return None
    rollout = claimable(store, model, wait_s=lease_ttl_s(current.spec) + 5)
    me = holder()
    actor = f"controller:{me.host}:{me.pid}"
    slo = store.registry.resolve(Ref(model, version=rollout.to_version)).manifest.slo
    judge = PrometheusJudge(settings.prometheus_url, slo.p99_latency_ms if slo else None)
    traffic = traffic_for(settings, store, rollout, actor)
    return Controller(canaries, rollout.id, me, judge, traffic).run()


def supervised(settings: Settings, store: Store, model: str) -> int:
    """The controller under its supervisor: started again while the model's rollout is in
    progress (a controller killed mid-step is replaced, and the new one resumes)."""
    from baton.rollout import supervise

    rollouts = Canaries(store.engine, store.registry).rollouts
    return supervise.keep_running(
        supervise.baton_argv("canary", "run", model), supervise.child_env(settings),
        lambda: rollouts.active(model) is not None,
    )  # fmt: skip


def tidy(settings: Settings, store: Store, model: str) -> None:
    """Stop what a finished rollout left running beside the stable server."""
    from baton.rollout.local_traffic import LocalTraffic

    if Deployments(store.engine).active(model) is None:
        return
    LocalTraffic(Launch(settings), store, f"{settings.user}").tidy(model, "no canary in progress")

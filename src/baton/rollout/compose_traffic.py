"""The canary on a Compose host: the rendered ``router`` service moves the traffic, and apply
hooks bring the ``baseline`` and ``canary`` services up and down.

``baton deploy render NAME@production --target compose --with-router --canary V --percent P``
renders the three services behind the router (``deploy/compose_canary.py``). The controller
runs on the host and reaches the router at its published port (``--router-url``) with the
admin token of ``./router.token`` (the Compose secret the router reads). At the start the
router's variant table is read and kept beside the rollout: the addresses it dials on the
Compose network (``http://canary:8080``) are what each step sends back with its weights,
so a step never depends on the host resolving them. ``prepare`` runs ``--apply`` (``docker
compose -f FILE up -d baseline canary``: idempotent, as a restarted controller runs it
again); ``route`` sets the weights, waiting while the router answers that a service it
would send requests to is not ready yet; ``promote`` gives the stable variant the canary's
address; ``rollback`` gives it back its own; ``retire`` runs ``--retire`` with the services
that no longer get traffic appended (``docker compose -f FILE stop`` + ``baton baseline``
after a promotion, ``canary baseline`` after a rollback).

The router keeps the table it applied on its ``router-state`` volume and starts from it
again (``router_state_file.py``); one whose volume was lost starts from its command line,
so while it waits between steps the controller checks every 2 s that the router applies
the step's weights and sets them again if not (``mend``). After a promotion, render the
new version as the stable one and ``docker compose up -d`` so the file says what serves.
"""

from __future__ import annotations

import logging
import shlex
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from baton.config import Settings
from baton.core.rollout_records import RolloutRecord, RolloutSpec, RolloutTarget, Weights
from baton.deploy.compose_canary import SERVICES
from baton.errors import BadInput, Conflict, NotFound
from baton.rollout import kept_options
from baton.rollout.kserve_traffic import Hook
from baton.rollout.router_admin import RouterAdmin
from baton.store.canaries import Canaries
from baton.store.people import People
from baton.store.store import Store

log = logging.getLogger("baton.canary")

READY_TIMEOUT_S = 180.0  # the rendered healthchecks give a server 120 s to start
RETRY_S = 1.0


def options_path(settings: Settings, rollout_id: int) -> Path:
    return kept_options.options_path(settings, rollout_id, "compose")


@dataclass(frozen=True)
class ComposeOptions:
    """How the controller reaches the Compose router and its services, kept beside the
    rollout for a restarted controller (``BATON_HOME/rollouts/rollout-N-compose.json``)."""

    router_url: str  # the router service's published port, as the host reaches it
    apply: str  # brings the baseline and canary services up (idempotent)
    retire: str | None = None  # stops the services named after it; None: left running
    token_file: str | None = None  # the router's admin token; None: BATON_ROUTER_ADMIN_TOKEN
    upstreams: dict[str, str] = field(default_factory=dict)  # the router's table at start
    ready_timeout_s: float = READY_TIMEOUT_S

    def __post_init__(self) -> None:
        Hook(command=self.apply)  # refuses an empty command
        if self.retire is not None:
            Hook(command=self.retire)
        if not self.router_url.startswith(("http://", "https://")):
            raise BadInput(
                f"--router-url {self.router_url}: give the router service's published "
                "address, as in http://127.0.0.1:8080"
            )

    def token(self, settings: Settings) -> str:
        if self.token_file is not None:
            try:
                text = Path(self.token_file).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise BadInput(
                    f"cannot read the admin token file {self.token_file}: {exc}"
                ) from None
            if not text:
                raise BadInput(f"the admin token file {self.token_file} is empty")
            return text
        if settings.router_admin_token is None:
            raise BadInput(
                "the router's admin token: give --admin-token-file (the ./router.token the "
                "Compose file's secret reads) or set BATON_ROUTER_ADMIN_TOKEN"
            )
        return settings.router_admin_token.get_secret_value()

    def admin(self, settings: Settings) -> RouterAdmin:
        return RouterAdmin(self.router_url, self.token(settings))

    def bound(self, settings: Settings, model: str) -> ComposeOptions:
        """These options with the router's variant table, read now: the router must front
        ``model`` with a stable, a baseline and a canary server (a canary render)."""
        with self.admin(settings) as admin:
            state = admin.weights()
        if state.model != model:
            raise BadInput(f"the router at {self.router_url} fronts {state.model}, not {model}")
        missing = [v for v in SERVICES if not state.upstreams.get(v)]
        if missing:
            raise BadInput(
                f"the router at {self.router_url} has no {' or '.join(missing)} server: render "
                f"the Compose file with --with-router --canary N --percent P and `docker "
                "compose up -d` it"
            )
        known = {v: str(state.upstreams[v]) for v in SERVICES}
        token_file = None if self.token_file is None else str(Path(self.token_file).resolve())
        return replace(self, upstreams=known, token_file=token_file)

    def save(self, path: Path) -> None:
        kept_options.save_options(self, path)

    @classmethod
    def load(cls, path: Path) -> ComposeOptions:
        return kept_options.load_options(cls, path, "the Compose options")


def start(
    settings: Settings,
    store: Store,
    model: str,
    version: int,
    spec: RolloutSpec,
    reason: str | None,
    options: ComposeOptions,
    *,
    spawn: bool = True,
) -> RolloutRecord:
    """Record a Compose canary (the router checked first) and start its controller."""
    from baton.rollout.canary_service import spawn_controller

    bound = options.bound(settings, model)  # an unreachable router records nothing
    canaries = Canaries(store.engine, store.registry)
    actor = People(store.engine).acting(settings.user)
    rollout = canaries.start(model, version, actor, reason, spec=spec,
                             target=RolloutTarget.COMPOSE)  # fmt: skip
    bound.save(options_path(settings, rollout.id))
    if spawn:
        spawn_controller(settings, store, rollout)
    return canaries.rollouts.get(rollout.id)


class ComposeTraffic:
    def __init__(self, settings: Settings, options: ComposeOptions, actor: str) -> None:
        if set(options.upstreams) != set(SERVICES):
            raise NotFound("the Compose options hold no router table: start the canary again")
        self.settings = settings
        self.options = options
        self.actor = actor
        self.hooks_run: list[str] = []  # what this controller ran, in order

    def _hook(self, command: str) -> None:
        Hook(command=command).apply("", "")
        self.hooks_run.append(command)

    def prepare(self, rollout: RolloutRecord) -> None:
        log.info("rollout #%s: bringing baseline and canary up: %s", rollout.id,
                 self.options.apply)  # fmt: skip
        self._hook(self.options.apply)

    def _set(self, weights: dict[str, float], stable: str, reason: str) -> None:
        upstreams = {**self.options.upstreams, "stable": stable}
        deadline = time.monotonic() + self.options.ready_timeout_s
        with self.options.admin(self.settings) as admin:
            while True:
                try:
                    admin.set_weights(weights, upstreams=upstreams, by=self.actor, reason=reason)
                    return
                except Conflict as exc:  # a service the hook started is not ready yet
                    if "not applied" not in exc.message or time.monotonic() > deadline:
                        raise
                    time.sleep(RETRY_S)

    def route(self, rollout: RolloutRecord, weights: Weights, reason: str) -> None:
        self._set(weights.model_dump(), self.options.upstreams["stable"], reason)

    def promote(self, rollout: RolloutRecord, reason: str) -> None:
        """The canary's service answers as the stable variant (all traffic)."""
        only = {"stable": 100.0, "baseline": 0.0, "canary": 0.0}
        self._set(only, self.options.upstreams["canary"], reason)

    def rollback(self, rollout: RolloutRecord, reason: str) -> None:
        only = {"stable": 100.0, "baseline": 0.0, "canary": 0.0}
        self._set(only, self.options.upstreams["stable"], reason)

    def mend(self, rollout: RolloutRecord) -> bool:
        """Compose starts a dead service again itself (``restart:``), but a router that
        lost its state volume starts from its command line's weights: the step's are set
        again."""
        with self.options.admin(self.settings) as admin:
            state = admin.weights()
        wanted = rollout.weights.model_dump()
        stable = self.options.upstreams["stable"]
        if state.applies(wanted, {"stable": stable}):
            return False
        shown = ", ".join(f"{v} {w:g} %" for v, w in state.weights.items())
        why = f"rollout #{rollout.id}: the router applied {shown} (started again?)"
        log.warning("%s; setting the step's weights again", why)
        self._set(wanted, stable, why)
        return True

    def retire(self, rollout: RolloutRecord, promoted: bool) -> None:
        gone = ("stable", "baseline") if promoted else ("canary", "baseline")
        services = [SERVICES[v] for v in gone]
        if self.options.retire is None:
            log.info("rollout #%s: no --retire hook, %s left running", rollout.id,
                     ", ".join(services))  # fmt: skip
            return
        self._hook(f"{self.options.retire} {shlex.join(services)}")

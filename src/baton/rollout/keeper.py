"""The deployment's keeper: the long-lived process beside a ``baton deploy up`` deployment
that keeps it owned, from ``deploy up`` to ``deploy down``.

- **The router.** The keeper holds a copy of the router's listening socket. When the router
  dies (a crash, an OOM kill, ``kill -9``) the socket stays open, so the kernel goes on
  accepting connections into its backlog; the keeper starts a new router on the same
  socket (same address: clients and Prometheus notice nothing) with the weights and
  servers the dead one last applied (its row in the store, written at each change), and
  records the replacement in the deployment and the audit log. Only the requests the dead
  process held at that instant fail; those sent meanwhile wait and are answered. A keeper
  that ``deploy up`` started again beside a living router has no copy: when that router
  dies it binds the freed port itself (another, recorded, if something took it), so
  connections are refused for that moment; from then on it holds the socket.
- **The stable server.** Outside a rollout, a dead stable ``baton serve`` is started again
  (same version, a new port); the router's stable upstream is pointed at it, then the
  deployment records it. During a rollout the controller owns the servers.
- **The canary.** A local rollout whose controller and supervisor both died (``kill -9``
  of both, a host reboot) would wait for a person. The keeper sees it unowned, waits long
  enough for a living supervisor to have replaced its controller, audits the adoption
  (``rollout.adopt``) and starts ``baton canary run NAME --supervise``; the new controller
  takes the lease over and resumes from the record's step. Traffic is never moved here:
  only a controller moves it, and only after its record.
- **Strays.** A process that a starter (``deploy up``, a keeper, a controller) started and
  died before recording is stopped at the next look (``unrecorded``): nothing else knows it.

``python -m baton.rollout.keeper MODEL --deployment ID``, with the socket in
``BATON_ROUTER_SOCKET_FD``; ``rollout/keeper_process.py`` starts and stops it. It exits
when the deployment is down (or replaced by another).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType

from baton.config import Settings
from baton.core.deployment_records import DeploymentRecord, Variant
from baton.core.rollout_records import Phase, RolloutRecord, RolloutTarget
from baton.errors import BadInput, BatonError, Conflict, Unavailable
from baton.rollout import supervise
from baton.rollout.canary_service import CLAIM_TIMEOUT_S, orphaned_since, owned
from baton.rollout.keeper_process import listening_socket
from baton.rollout.local_deploy import (
    Launch,
    host_port,
    hostname,
    read_token,
    router_port,
    start_router,
    start_server,
    stop_processes,
    sweep_strays,
    unlabel,
)
from baton.rollout.router_admin import RouterAdmin
from baton.rollout.router_server import inherited_socket
from baton.rollout.supervise import Backoff
from baton.rollout.weights import Weights, check_routable, weights_from
from baton.store.deployments import Deployments
from baton.store.rollouts import Rollouts
from baton.store.store import Store, open_store

log = logging.getLogger("baton.keeper")

POLL_S = 0.5
# How long a rollout stays unowned before the keeper adopts it. With an expired lease: a
# living supervisor's new controller waits for that expiry and claims at once, so a few
# seconds more mean nobody else will. Released (a controller stopped on an error): its
# supervisor starts another after a second. Never claimed: `canary start` waits this long.
ADOPT_EXPIRED_S = 3.0
ADOPT_RELEASED_S = 15.0
ADOPT_NEW_S = CLAIM_TIMEOUT_S


@dataclass(frozen=True)
class Restore:
    """What a replacement router starts with, and where that came from."""

    weights: dict[str, float]
    upstreams: dict[str, str]
    source: str


def restore_routing(store: Store, deployment: DeploymentRecord) -> Restore:
    """The weights and servers the deployment's router last applied (its row in the store,
    updated at each weight change); the stable server alone if the row cannot say."""
    port = router_port(deployment)
    rows = [
        r for r in store.servers.all(since=deployment.started_at, role="router")
        if r.hostname == deployment.hostname and r.port == port and r.routing is not None
    ]  # fmt: skip
    mine = [r for r in rows if r.pid == deployment.router.pid] or rows
    if mine and mine[-1].routing is not None:
        routing = mine[-1].routing
        upstreams = {v.variant: v.url for v in routing.variants if v.url}
        try:
            weights = weights_from(routing.weights())
            check_routable(weights, upstreams)
            source = f"router row {mine[-1].id}, generation {routing.generation}"
            return Restore(weights.as_dict(), upstreams, source)
        except BadInput as exc:
            log.warning("router row %s cannot be restored (%s)", mine[-1].id, exc.message)
    stable = deployment.server(Variant.STABLE)
    if stable is None:
        raise Conflict(f"{deployment.summary()} has no stable server to route to")
    return Restore(Weights().as_dict(), {"stable": stable.url}, "the stable server alone")


class Keeper:
    def __init__(
        self,
        launch: Launch,
        store: Store,
        model: str,
        deployment_id: int,
        sock: socket.socket | None,
        poll_s: float = POLL_S,
    ) -> None:
        self.launch, self.store, self.model = launch, store, model
        self.deployment_id, self.sock, self.poll_s = deployment_id, sock, poll_s
        self.actor = f"keeper:{hostname()}:{os.getpid()}"
        self.deployments = Deployments(store.engine)
        self.rollouts = Rollouts(store.engine)
        self.stopping = threading.Event()
        self.router_starts, self.server_starts = Backoff(), Backoff()
        self.unowned: dict[int, float] = {}  # rollout id -> when first seen unowned
        self.adopter: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> int:
        """Watch until the deployment is down (0) or the keeper is stopped (0)."""
        while not self.stopping.is_set():
            try:
                deployment = self.deployments.get(self.deployment_id)
                if not deployment.up:
                    log.info("%s is down: the keeper exits", deployment.summary())
                    return 0
                sweep_strays(self.launch, self.store, self.model, self.actor)
                self.keep_router(deployment)
                self.keep_stable(deployment)
                self.keep_owner()
            except BatonError as exc:  # the database away, say: try again at the next look
                log.warning("%s", exc.message)
            except Exception:  # nothing restarts the keeper: it logs and looks again
                log.exception("the keeper's look at %s failed", self.model)
            self.stopping.wait(self.poll_s)
        return 0

    # -- the router -----------------------------------------------------------------------

    def keep_router(self, deployment: DeploymentRecord) -> None:
        dead = deployment.router
        if supervise.alive(dead.pid, dead.started):
            self.router_starts.reset()
            return
        if self.router_starts.waiting() or self.stopping.is_set():
            return
        restore = restore_routing(self.store, deployment)
        with self.launch.starting(self.model) as starting:
            try:
                sock = self.router_socket(deployment)
                router = start_router(self.launch, self.model, restore.upstreams, sock,
                                      restore.weights, Path(dead.token_file),
                                      starting=starting)  # fmt: skip
            except BatonError as exc:
                log.error("could not start the router again (retry in %g s): %s",
                          self.router_starts.failed(), exc.message)  # fmt: skip
                return
            shown = Weights(**restore.weights)
            moved = "" if router.url == dead.url else f" ({dead.url} was taken)"
            why = (f"the router (pid {dead.pid}) died; started again on {router.url}{moved} "
                   f"with the weights it last applied ({shown}, from "
                   f"{restore.source})")  # fmt: skip
            try:
                self.deployments.router_replaced(deployment.id, dead, router, actor=self.actor,
                                                 reason=why, weights=restore.weights)  # fmt: skip
            except BatonError as exc:
                log.error("%s: stopping the router just started", exc.message)
                stop_processes([router], self.launch.grace_s)
                return
        log.info("%s (pid %s)", why, router.pid)

    def router_socket(self, deployment: DeploymentRecord) -> socket.socket:
        """The copy of the router's listening socket this keeper holds; a keeper started
        again beside a living router was handed none, and binds the dead router's port
        now that it is free (a port the kernel picks if something took it meanwhile)."""
        if self.sock is None:
            host, port = host_port(deployment.router)
            try:
                self.sock = listening_socket(host, port)
            except OSError as exc:
                raise Unavailable(f"cannot listen on {host} ({exc})") from None
        return self.sock

    # -- the stable server ----------------------------------------------------------------

    def keep_stable(self, deployment: DeploymentRecord) -> None:
        """Start a dead stable server again (same version, a new port), point the router at
        it, then record it. Not during a rollout: its controller owns the servers then,
        and a rollback or promotion would race the restart."""
        dead = deployment.server(Variant.STABLE)
        if dead is None or supervise.alive(dead.pid, dead.started):
            self.server_starts.reset()
            return
        if self.server_starts.waiting() or self.stopping.is_set():
            return
        router = deployment.router
        if not supervise.alive(router.pid, router.started):
            return  # `keep_router` brings it back first
        if self.rollouts.active(self.model) is not None:
            return
        name = f"{self.model}:{dead.version}"
        unlabel(self.launch.settings, dead)  # first: the new server may get the dead one's port
        with self.launch.starting(self.model) as starting:
            try:
                server = start_server(self.launch, self.model, dead.version, Variant.STABLE,
                                      dead.version, starting=starting)  # fmt: skip
            except BatonError as exc:
                log.error("could not start the stable server %s again (retry in %g s): %s",
                          name, self.server_starts.failed(), exc.message)  # fmt: skip
                return
            if self.stopping.is_set():  # `deploy down` meanwhile: it will not know this one
                stop_processes([server], self.launch.grace_s)
                return
            why = f"the stable server {name} (pid {dead.pid}) died; started again on {server.url}"
            try:
                with RouterAdmin(router.url, read_token(router)) as admin:
                    state = admin.weights()
                    admin.set_weights(state.weights, upstreams={"stable": server.url},
                                      generation=state.generation, by=self.actor,
                                      reason=why)  # fmt: skip
                self.deployments.change(deployment.id, deployment.processes.with_(server),
                                        revision=deployment.revision, actor=self.actor,
                                        reason=why)  # fmt: skip
            except BatonError as exc:  # the next look starts another if it is still dead
                log.error("%s: stopping the server just started", exc.message)
                stop_processes([server], self.launch.grace_s)
                return
        log.info("%s (pid %s)", why, server.pid)

    # -- the canary -----------------------------------------------------------------------

    def keep_owner(self) -> None:
        rollout = self.rollouts.active(self.model)
        if rollout is None or rollout.target is not RolloutTarget.LOCAL or owned(rollout):
            self.unowned.clear()
            return
        first = self.unowned.setdefault(rollout.id, time.monotonic())
        if self.adopter is not None and self.adopter.poll() is None:
            return  # the supervisor we started lives: its controller is on its way
        if time.monotonic() - first < adopt_after_s(rollout):
            return
        since = orphaned_since(rollout)
        last = "" if rollout.lease is None else f"; the lease of {rollout.lease.holder} expired"
        why = (f"no controller since {_iso(since)}{last}: the keeper of {self.model} starts "
               f"one, which resumes at step {rollout.step + 1} "
               f"({rollout.phase.value})")  # fmt: skip
        if not self.rollouts.orphaned(rollout.id, self.actor, why):
            return  # finished, or owned again meanwhile
        logfile = supervise.log_path(self.launch.settings, self.model, f"controller-{rollout.id}")
        argv = supervise.baton_argv("canary", "run", self.model, "--supervise")
        self.adopter = supervise.spawn(argv, logfile, self.launch.env())
        self.unowned.clear()
        log.info("%s (supervisor pid %s, log %s)", why, self.adopter.pid, logfile)


def adopt_after_s(rollout: RolloutRecord) -> float:
    """How long the rollout must stay unowned before the keeper adopts it."""
    if rollout.lease is not None:
        return ADOPT_EXPIRED_S
    return ADOPT_NEW_S if rollout.phase is Phase.INITIALIZING else ADOPT_RELEASED_S


def _iso(at: datetime | None) -> str:
    return "?" if at is None else at.isoformat(timespec="seconds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baton.rollout.keeper",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("model")
    parser.add_argument("--deployment", type=int, required=True)
    parser.add_argument("--drain-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        sock = inherited_socket()  # None: started again beside a living router
        settings = Settings()
        store = open_store(settings)
    except BatonError as exc:
        print(f"baton keeper: {exc.message}", file=sys.stderr)
        return 2
    try:
        deployment = Deployments(store.engine).get(args.deployment)
        host, _ = host_port(deployment.router)  # an IPv6 address without its brackets
        launch = Launch(settings, host=host, drain_timeout_s=args.drain_timeout)
        keeper = Keeper(launch, store, args.model, args.deployment, sock)
        if sock is None:
            log.warning(
                "started beside a running router, without a copy of its socket: "
                "should it die, connections are refused until a new one listens"
            )

        def stop(signum: int, frame: FrameType | None) -> None:
            keeper.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(json.dumps({"url": deployment.router.url, "keeper": os.getpid(),
                          "deployment": deployment.id}),
              flush=True)  # fmt: skip
        return keeper.run()
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())

"""``baton deploy up | down | status`` on one machine: a model's ``@production`` version
behind a ``baton router``, each version in its own ``baton serve`` process.

A keeper process (``rollout/keeper.py``) watches the deployment until it is taken down:
it holds a copy of the router's listening socket and starts the router again on it when
it dies, and adopts a canary whose controller and supervisor both died.

Every process is started detached (``rollout/supervise.py``) on a port the kernel picks,
announces itself once it serves, and is recorded in the store twice: by itself (the
``servers`` rows, as any ``baton serve``) and as part of the deployment (``deployments``:
which process plays which variant, its pid and log). Each server's Prometheus target file
is rewritten with its ``variant`` label, so the canary judge can tell the baseline's series
from the canary's. The router's admin token lives in a file only the user can read.

Servers are pinned to a version (``NAME:N``, never an alias): what runs changes only when
the deployment changes it, so moving ``@production`` never swaps a model under the router.

Nothing restarts the keeper itself: after a reboot the deployment is recorded but nothing
of it runs. ``deploy up`` is then the command that works, on the router's old address
when it is still free: it marks that record down (saying why) and starts afresh, or, with
a canary in progress, starts the stable server and the router again as recorded and lets
the keeper hand the canary to a controller, which resumes it at its step. When only the
keeper died, ``deploy up`` starts a keeper again and leaves what runs alone.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from baton.config import Settings
from baton.core.deployment_records import (
    DeploymentRecord,
    Processes,
    RouterProcess,
    ServerProcess,
    Variant,
)
from baton.core.refs import Ref
from baton.core.rollout_records import Phase, RolloutRecord, RolloutTarget
from baton.errors import Conflict, NotFound
from baton.rollout import supervise
from baton.rollout.keeper_process import (
    keeper_runs,
    listening_socket,
    start_keeper,
    stop_keeper,
)
from baton.rollout.router_server import SOCKET_FD_ENV
from baton.rollout.unrecorded import Spawned, Starting, sweep
from baton.serve import discovery
from baton.store.deployments import Deployments, NewDeployment, StaleRevision
from baton.store.rollouts import Rollouts
from baton.store.store import Store

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
TOKEN_BYTES = 32
FINISHING = frozenset({Phase.ROLLING_BACK, Phase.PROMOTING})  # `down` waits these out
SETTLE_POLL_S = 0.2
STALE_RETRIES = 5  # a finishing controller changes the record once or twice
GONE = (  # why `deploy up` took down, before starting afresh, a deployment of which nothing ran
    "none of its processes was running (the host restarted, or they were killed): "
    "`deploy up` started the deployment again"
)
GONE_MID_CANARY = (  # why `deploy up` started again, as recorded, a deployment mid-canary
    "none of its processes was running (the host restarted, or they were killed) while a "
    "canary was in progress: `deploy up` started its stable server and router again, and "
    "its keeper hands the canary to a controller"
)
UNWATCHED = "its keeper was not running: `deploy up` started it again, and left what runs alone"


@dataclass(frozen=True)
class Launch:
    """How deployment processes are started."""

    settings: Settings
    host: str = HOST
    drain_timeout_s: float = 30.0
    serve_args: tuple[str, ...] = ()  # further `baton serve` options, for every server

    def env(self) -> dict[str, str]:
        return supervise.child_env(self.settings)

    @property
    def grace_s(self) -> float:
        """How long a stopped process may drain before it is killed."""
        return self.drain_timeout_s + 5

    def starting(self, model: str) -> Starting:
        """Where the model's processes are written down until their starter records them."""
        return Starting(self.settings, model, self.grace_s)


def hostname() -> str:
    return socket.gethostname()


def start_server(
    launch: Launch, model: str, version: int, variant: Variant, bins_from: int,
    *, starting: Starting,
) -> ServerProcess:  # fmt: skip
    """``baton serve MODEL:VERSION`` on a free port, labelled ``variant`` for Prometheus,
    written down in ``starting`` until its starter has recorded it.

    ``bins_from``: the version whose evaluation's output deciles bin the served outputs:
    the stable version for every server of a deployment, so the judge compares a canary's
    outputs with its baseline's bin for bin."""
    log = supervise.log_path(launch.settings, model, f"{variant.value}-v{version}")
    argv = supervise.baton_argv(
        "serve", f"{model}:{version}", "--host", launch.host, "--port", "0", "--json",
        "--drain-timeout", f"{launch.drain_timeout_s:g}",
        "--output-bins-from", f"{model}:{bins_from}", *launch.serve_args,
    )  # fmt: skip
    proc = supervise.spawn(argv, log, launch.env())
    what = f"the {variant.value} server of {model}:{version}"
    starting.add(proc.pid, what)
    started = supervise.announced(proc, log, what)
    process = ServerProcess(
        pid=started.pid, started=started.started, url=started.url, log=str(log),
        variant=variant, version=version,
    )  # fmt: skip
    label(launch.settings, model, process)
    return process


def label(settings: Settings, model: str, process: ServerProcess) -> None:
    """Rewrite the server's Prometheus target file with its variant (and deployment)."""
    labels = {"variant": process.variant.value, "baton_deployment": model}
    discovery.register(
        settings.scrape_targets, *host_port(process), [f"{model}:{process.version}"], labels
    )


def unlabel(settings: Settings, process: ServerProcess) -> None:
    """Remove the target file of a server that was killed (one that stops removes its own):
    Prometheus would scrape its dead address, and alert on it, for good."""
    discovery.unregister(discovery.target_file(settings.scrape_targets, *host_port(process)))


def host_port(process: ServerProcess | RouterProcess) -> tuple[str, int]:
    """The address a process listens on, from its URL (an IPv6 host without brackets)."""
    host, _, port = process.url.removeprefix("http://").rpartition(":")
    return host.strip("[]"), int(port)


def start_router(
    launch: Launch,
    model: str,
    upstreams: Mapping[str, str],
    sock: socket.socket,
    weights: Mapping[str, float] | None = None,
    token_file: Path | None = None,
    *,
    starting: Starting,
) -> RouterProcess:
    """``baton router MODEL --stable URL ...`` serving on the listening socket ``sock``
    (inherited: its address outlives the process), with a fresh admin token unless
    ``token_file`` names the one to keep; written down in ``starting`` like a server."""
    token_file = token_file or _token_file(launch.settings, model)
    log = supervise.log_path(launch.settings, model, "router")
    servers = [arg for variant, url in upstreams.items() for arg in (f"--{variant}", url)]
    given = [] if weights is None else ["--weights", ",".join(
        f"{variant}={share!r}" for variant, share in weights.items())]  # fmt: skip
    argv = supervise.baton_argv(
        "router", model, *servers, *given, "--host", launch.host,
        "--port", str(sock.getsockname()[1]), "--admin-token-file", str(token_file), "--json",
        "--drain-timeout", f"{launch.drain_timeout_s:g}",
    )  # fmt: skip
    env = {**launch.env(), SOCKET_FD_ENV: str(sock.fileno())}
    proc = supervise.spawn(argv, log, env, pass_fds=(sock.fileno(),))
    starting.add(proc.pid, f"the router of {model}")
    started = supervise.announced(proc, log, f"the router of {model}")
    return RouterProcess(
        pid=started.pid, started=started.started, url=started.url, log=str(log),
        token_file=str(token_file),
    )  # fmt: skip


def _token_file(settings: Settings, model: str) -> Path:
    """A new admin token in ``BATON_HOME/deployments/MODEL/router.token`` (mode 0600)."""
    folder = settings.home.resolve() / "deployments" / model
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "router.token"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_hex(TOKEN_BYTES) + "\n")
    return path


def read_token(router: RouterProcess) -> str:
    try:
        return Path(router.token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise NotFound(
            f"cannot read the router's admin token {router.token_file} ({exc.strerror}): run "
            "baton where `baton deploy up` ran, as the same user"
        ) from None


def stop_processes(
    processes: Sequence[ServerProcess | RouterProcess],
    grace_s: float,
    settings: Settings | None = None,
) -> None:
    """SIGTERM them all at once (they drain side by side), then wait for each. With
    ``settings``, the target file of a server found dead goes too: one that stops removes
    its own, a killed one could not (Prometheus would scrape, and alert on, its address)."""
    dead = [p for p in processes if not supervise.alive(p.pid, p.started)]
    supervise.stop_all([(p.pid, p.started) for p in processes if p not in dead], grace_s)
    if settings is not None:
        for p in dead:
            if isinstance(p, ServerProcess):
                unlabel(settings, p)


def up(launch: Launch, store: Store, model: str, reason: str | None) -> DeploymentRecord:
    """Start the model's @production version, a router in front of it and the keeper that
    watches them; record them. A deployment of which nothing runs here any more (a reboot)
    comes back on its router's address: afresh, or as recorded while a canary is in
    progress (``resume``). One that runs here without its keeper gets its keeper again,
    and is returned as it is."""
    deployments = Deployments(store.engine)
    running = deployments.active(model)
    sweep_strays(launch, store, model)
    port = 0
    if running is not None and nothing_runs_here(launch.settings, running):
        rollout = Rollouts(store.engine).active(model)
        if rollout is not None:
            return resume(launch, store, running, rollout, reason)
        down(launch, store, model, GONE)  # stops nothing; removes the dead servers' targets
        port = router_port(running)
        running = None
    if (
        running is not None
        and running.hostname == hostname()
        and not keeper_runs(launch.settings, model)
    ):  # the rest runs unwatched: watch it again, touching nothing that runs
        keeper = start_keeper(launch.settings, model, running.id, None, launch.drain_timeout_s)
        deployments.keeper_started(running.id, keeper.pid, actor=launch.settings.user,
                                   reason=reason or UNWATCHED)  # fmt: skip
        return running
    if running is not None:
        raise Conflict(
            f"{model} is already deployed ({running.summary()}, router at "
            f"{running.router.url}): `baton deploy down {model}` first"
        )
    info = store.registry.resolve(Ref(model, alias="production"))
    sock = listening_socket(launch.host, port)  # the router's address, kept by the keeper
    started: list[ServerProcess | RouterProcess] = []
    record: DeploymentRecord | None = None
    try:
        with launch.starting(model) as starting:
            stable = start_server(launch, model, info.number, Variant.STABLE, info.number,
                                  starting=starting)  # fmt: skip
            started.append(stable)
            router = start_router(launch, model, {"stable": stable.url}, sock,
                                  starting=starting)  # fmt: skip
            started.append(router)
            new = NewDeployment(model, hostname(), router, Processes(servers=(stable,)))
            record = deployments.up(new, launch.settings.user, reason)
        start_keeper(launch.settings, model, record.id, sock, launch.drain_timeout_s)
        return record
    except BaseException:
        stop_keeper(launch.settings, model)
        stop_processes(started, launch.grace_s)
        if record is not None:
            deployments.down(record.id, revision=record.revision, actor=launch.settings.user,
                             reason="its keeper did not start")  # fmt: skip
        raise
    finally:
        sock.close()  # the router and the keeper hold their own copies


def resume(
    launch: Launch, store: Store, record: DeploymentRecord, rollout: RolloutRecord,
    reason: str | None,
) -> DeploymentRecord:  # fmt: skip
    """Bring back, as recorded, a deployment a reboot stopped mid-canary: its stable server
    (same version) and a router on the same address sending it every request, then the
    keeper, which hands the orphaned rollout to a controller. The controller starts the
    baseline and canary again and routes the step's weights (``Controller._resume``)."""
    stable = record.server(Variant.STABLE)
    if rollout.target is not RolloutTarget.LOCAL or stable is None:
        raise Conflict(
            f"nothing of {record.summary()} runs (the host restarted?), and "
            f"{rollout.summary()} is {rollout.phase.value}: `baton canary abort {record.model} "
            f"--why ...` ends it, then `baton deploy up {record.model}`"
        )
    deployments, actor = Deployments(store.engine), launch.settings.user
    why = reason or GONE_MID_CANARY
    sock = listening_socket(launch.host, router_port(record))
    started: list[ServerProcess | RouterProcess] = []
    unlabel(launch.settings, stable)  # first: the new server may get the dead one's port
    try:
        with launch.starting(record.model) as starting:
            server = start_server(launch, record.model, stable.version, Variant.STABLE,
                                  stable.version, starting=starting)  # fmt: skip
            started.append(server)
            token = Path(record.router.token_file)  # kept, unless the reboot took it
            router = start_router(launch, record.model, {"stable": server.url}, sock,
                                  token_file=token if token.is_file() else None,
                                  starting=starting)  # fmt: skip
            started.append(router)
            deployments.router_replaced(record.id, record.router, router, actor=actor,
                                        reason=why, weights={"stable": 100.0})  # fmt: skip
            record = deployments.get(record.id)
            record = deployments.change(record.id, record.processes.with_(server),
                                        revision=record.revision, actor=actor,
                                        reason=why)  # fmt: skip
        start_keeper(launch.settings, record.model, record.id, sock, launch.drain_timeout_s)
        return record
    except BaseException:  # what was recorded names dead processes again: `up` once more
        stop_keeper(launch.settings, record.model)
        stop_processes(started, launch.grace_s)
        raise
    finally:
        sock.close()


def sweep_strays(launch: Launch, store: Store, model: str, actor: str = "") -> list[Spawned]:
    """Stop the model's processes that a starter killed before it recorded them (see
    ``unrecorded``), and say so in the audit log."""

    def recorded() -> set[tuple[int, int | None]]:
        record = Deployments(store.engine).active(model)
        named = () if record is None else (record.router, *record.processes.servers)
        return {(p.pid, p.started) for p in named}

    strays = sweep(launch.settings, model, recorded, launch.grace_s)
    if strays:
        starters = sorted({stray.starter_pid for stray in strays})
        why = (f"{len(strays)} process(es) that pid {', '.join(map(str, starters))} started "
               "and died before recording: stopped, since no record names them")  # fmt: skip
        log.warning("%s: %s", why, "; ".join(stray.describe() for stray in strays))
        detail = {"stopped": [{"pid": s.pid, "what": s.what, "starter": s.starter_pid}
                              for s in strays]}  # fmt: skip
        store.registry.append_entry(actor or launch.settings.user, "deploy.strays.stop",
                                    model, None, why, detail)  # fmt: skip
    return strays


def router_port(record: DeploymentRecord) -> int:
    return host_port(record.router)[1]


def nothing_runs_here(settings: Settings, record: DeploymentRecord) -> bool:
    """Whether nothing of this machine's deployment runs any more, nor is about to: its
    router, every server and its keeper are dead (a reboot, or all of them killed)."""
    if record.hostname != hostname():
        return False
    if any(supervise.alive(p.pid, p.started) for p in (record.router, *record.processes.servers)):
        return False
    return not keeper_runs(settings, record.model)


def down(launch: Launch, store: Store, model: str, reason: str | None) -> DeploymentRecord:
    """Stop the router and every server of the model's deployment (they drain), then mark
    it down. Refused while a canary runs (abort it first); one already aborted, rolled back
    or promoted is waited out, so ``deploy down`` right after ``canary abort`` works.
    Not deployed, it still stops what a killed ``deploy up`` had started (and says so)."""
    deployments = Deployments(store.engine)
    record = deployments.active(model)
    if record is None:
        strays = sweep_strays(launch, store, model)
        stopped = "" if not strays else (
            f" (stopped {'; '.join(s.describe() for s in strays)}: started by a baton "
            "command that died before it recorded them)")  # fmt: skip
        raise NotFound(
            f"{model} is not deployed here{stopped}: `baton deploy status` lists deployments"
        )
    check_here(record)
    grace = launch.grace_s
    settle_rollout(Rollouts(store.engine), model, 2 * grace + 30)
    stop_keeper(launch.settings, model)  # it would start the router again
    sweep_strays(launch, store, model)
    actor = launch.settings.user
    for _ in range(STALE_RETRIES):
        record = deployments.get(record.id)  # the keeper may have replaced the router meanwhile
        stop_processes([record.router], grace)  # no new requests first
        stop_processes(record.processes.servers, grace, launch.settings)
        try:
            return deployments.down(record.id, revision=record.revision, actor=actor,
                                    reason=reason)  # fmt: skip
        except StaleRevision:  # a controller finishing a rollout stopped servers meanwhile:
            continue  # read the record again, stop what it names, mark it down
    raise Conflict(f"{record.summary()} kept changing while it was taken down: run it again")


def settle_rollout(rollouts: Rollouts, model: str, timeout: float) -> None:
    """Refuse while the model's canary runs; wait out one that is finishing (its controller
    moves the traffic back or forward, then records the end). The controller's last step,
    stopping the servers the deployment no longer needs, may overlap ``down``: both stop
    the same processes, and whichever changes the record second reads it again."""
    deadline = time.monotonic() + timeout
    rollout = rollouts.active(model)
    while rollout is not None and rollout.phase in FINISHING and time.monotonic() < deadline:
        time.sleep(SETTLE_POLL_S)
        rollout = rollouts.active(model)
    if rollout is not None and rollout.phase in FINISHING:
        raise Conflict(
            f"{rollout.summary()} is still {rollout.phase.value} after {timeout:.0f} s: "
            f"`baton canary status {model}` shows its controller; take the deployment down "
            "once it has finished"
        )
    if rollout is not None:
        raise Conflict(
            f"{rollout.summary()} is {rollout.phase.value}: abort it first "
            f"(`baton canary abort {model} --why ...`), then take the deployment down"
        )


def check_here(record: DeploymentRecord) -> None:
    """Processes are signalled only from the machine they run on."""
    if record.hostname != hostname():
        raise Conflict(
            f"{record.summary()} runs on {record.hostname}, not on {hostname()}: run this "
            "command there"
        )

"""The deployment's keeper: a replacement router gets what the dead one last applied (from
its row in the store); an unowned rollout is adopted only after a living supervisor had its
chance; and, live, ``kill -9`` of the router under steady load fails only the requests it
held at that instant, while the keeper starts a new one on the same address, with the same
weights and token, and records it. Requests sent while no router runs wait in the kernel's
backlog (the keeper holds the listening socket) and are answered by the new one."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.cli.output import when
from baton.config import Settings
from baton.core.deployment_records import (
    DeploymentRecord,
    RouterProcess,
    ServerProcess,
    Variant,
)
from baton.core.rollout_records import Holder, Phase
from baton.errors import BadInput
from baton.rollout import supervise
from baton.rollout.canary_service import orphaned_since
from baton.rollout.keeper import (
    ADOPT_EXPIRED_S,
    ADOPT_NEW_S,
    ADOPT_RELEASED_S,
    Keeper,
    adopt_after_s,
    restore_routing,
)
from baton.rollout.keeper_process import find_keeper, listening_socket
from baton.rollout.local_deploy import Launch
from baton.rollout.router_admin import RouterAdmin
from baton.rollout.router_server import SOCKET_FD_ENV, inherited_socket
from baton.store.deployments import Deployments
from baton.store.rollouts import NewRollout, Rollouts
from baton.store.servers import RoutedVariant, Routing, ServerFacts
from baton.store.store import Store
from tests.baton_cli import baton, clean_env
from tests.rollout.canary_world import canary_world
from tests.rollout.conftest import dead_url
from tests.rollout.load import Load
from tests.rollout.recorded import recorded
from tests.waiting import wait_until

RATE = 50.0  # requests a second through the router


def _facts(port: int, pid: int) -> ServerFacts:
    return ServerFacts(host="127.0.0.1", port=port, hostname=socket.gethostname(), pid=pid,
                       workers=1, cpu_affinity=(0,), cpu_limit=None, memory_limit_bytes=None,
                       memory_total_bytes=1 << 30)  # fmt: skip


def _routing(generation: int, stable: float, canary: float) -> Routing:
    return Routing("toy", generation, (
        RoutedVariant("stable", "http://127.0.0.1:9001", stable),
        RoutedVariant("baseline", None, 0.0),
        RoutedVariant("canary", "http://127.0.0.1:9003" if canary else None, canary),
    ))  # fmt: skip


def test_a_new_router_gets_what_the_dead_one_last_applied(store: Store, tmp_path: Path) -> None:
    canary_world(store, tmp_path / "org")
    deployment = recorded(store)
    # nothing recorded by the router: the stable server alone
    alone = restore_routing(store, deployment)
    assert alone.weights == {"stable": 100.0, "baseline": 0.0, "canary": 0.0}
    assert alone.upstreams == {"stable": "http://127.0.0.1:9001"}
    # an older router on another port, then ours, which changed its weights once
    store.servers.started(_facts(8099, 4000), [], "t", routing=_routing(1, 100, 0))
    row = store.servers.started(_facts(8088, 4242), [], "t", routing=_routing(1, 100, 0))
    store.servers.update_routing(row, _routing(2, 75, 25), "t", by="controller", reason="step 1")
    found = restore_routing(store, deployment)
    assert found.weights == {"stable": 75.0, "baseline": 0.0, "canary": 25.0}
    assert found.upstreams == {"stable": "http://127.0.0.1:9001",
                               "canary": "http://127.0.0.1:9003"}  # fmt: skip
    assert found.source == f"router row {row}, generation 2"


def test_adoption_waits_for_a_living_supervisor_and_orphaned_since_says_when(
    store: Store, tmp_path: Path
) -> None:
    canary_world(store, tmp_path / "org")
    rollouts = Rollouts(store.engine)
    new = rollouts.start(NewRollout(model="toy", from_version=1, to_version=2,
                                    baseline_version=1), "sam")  # fmt: skip
    assert new.phase is Phase.INITIALIZING and adopt_after_s(new) == ADOPT_NEW_S
    assert orphaned_since(new) == new.updated_at  # never claimed: since it was recorded
    held = rollouts.claim(new.id, Holder(1, "h"), ttl_s=30)
    assert orphaned_since(held) is None
    assert held.lease is not None and adopt_after_s(held) == ADOPT_EXPIRED_S
    later = held.lease.expires_at + timedelta(seconds=1)
    assert orphaned_since(held, later) == held.lease.expires_at
    released = Rollouts(store.engine)
    released.release(new.id, Holder(1, "h"))
    again = released.get(new.id)
    assert again.lease is None and adopt_after_s(again) == ADOPT_NEW_S  # still initializing
    assert ADOPT_EXPIRED_S < ADOPT_RELEASED_S < ADOPT_NEW_S


def test_canary_status_says_a_rollout_is_orphaned_and_since_when(
    store: Store, tmp_path: Path
) -> None:
    canary_world(store, tmp_path / "org")
    rollouts = Rollouts(store.engine)
    new = rollouts.start(NewRollout(model="toy", from_version=1, to_version=2,
                                    baseline_version=1), "sam")  # fmt: skip
    held = rollouts.claim(new.id, Holder(4321, "gone-host"), ttl_s=0.01)  # dies at once
    assert held.lease is not None
    wait_until(lambda: orphaned_since(rollouts.get(new.id)), "the lease to expire")
    env = clean_env(tmp_path / "home", BATON_DB_URL=f"sqlite:///{tmp_path / 'b.db'}")
    done = baton(env, "canary", "status", "toy")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    expires = when(rollouts.get(new.id).lease.expires_at)  # type: ignore[union-attr]
    said = (f"orphaned: no controller since {expires} (the lease of pid 4321 on gone-host "
            "expired); nothing will take it over: run `baton canary run toy`")  # fmt: skip
    assert said in text, text
    found = json.loads(baton(env, "canary", "status", "toy", "--json").stdout)
    assert found["orphaned_since"] is not None and found["keeper"] is None  # no deployment


def test_an_inherited_socket_must_be_a_listening_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SOCKET_FD_ENV, raising=False)
    assert inherited_socket() is None  # none given: the router binds --port itself
    monkeypatch.setenv(SOCKET_FD_ENV, "not-a-number")
    with pytest.raises(BadInput, match="is not an open socket of this process"):
        inherited_socket()
    with socket.socket() as plain:
        monkeypatch.setenv(SOCKET_FD_ENV, str(os.dup(plain.fileno())))
        with pytest.raises(BadInput, match="is not a listening TCP socket"):
            inherited_socket()
    with listening_socket("127.0.0.1") as sock:
        monkeypatch.setenv(SOCKET_FD_ENV, str(os.dup(sock.fileno())))
        got = inherited_socket()
        assert got is not None and got.getsockname() == sock.getsockname()
        got.close()
    assert SOCKET_FD_ENV not in os.environ  # taken once: a child does not inherit it


def _deployed(store: Store, tmp_path: Path, why: str) -> tuple[dict[str, str], Any]:
    """``toy`` deployed by sam through the real command: its environment and record."""
    canary_world(store, tmp_path / "org")
    env = clean_env(tmp_path / "home", BATON_DB_URL=f"sqlite:///{tmp_path / 'b.db'}",
                    BATON_USER="sam")  # fmt: skip
    up = baton(env, "deploy", "up", "toy", "--json", "--why", why)
    assert up.returncode == 0, up.stderr
    return env, json.loads(up.stdout)


def _gone(pid: int) -> bool:
    """The process has exited with every thread: its sockets are closed (a zombie's main
    thread shows ``Z`` while other threads may still be exiting, holding its files)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields["State"].split()[0] in ("Z", "X") and int(fields["Threads"]) <= 1


@pytest.mark.canary
@pytest.mark.xdist_group("canary")
def test_killing_the_router_fails_only_what_it_held_and_the_keeper_brings_it_back(
    store: Store, tmp_path: Path
) -> None:
    env, record = _deployed(store, tmp_path, "router fault test")
    old = RouterProcess.model_validate(record["router"])
    deployments = Deployments(store.engine)
    try:
        keeper = find_keeper(Settings(home=tmp_path / "home"), "toy")
        assert keeper is not None and keeper.running()
        token = Path(old.token_file).read_text().strip()
        stable_url = record["processes"]["servers"][0]["url"]
        with RouterAdmin(old.url, token) as admin:  # weights the new router must restore
            admin.set_weights({"stable": 60, "baseline": 40, "canary": 0},
                              upstreams={"baseline": stable_url}, by="test",
                              reason="a split to restore")  # fmt: skip
        with Load(old.url, "toy", RATE, seconds=120, seed=3, features=4) as load:
            wait_until(lambda: load.tally.total() >= 100, "steady load", timeout=60)
            killed = time.monotonic()
            os.kill(old.pid, signal.SIGKILL)
            wait_until(lambda: _gone(old.pid), "the kill", every=0.01)
            dead = time.monotonic()  # its sockets are closed by now

            def replaced() -> RouterProcess | None:
                router = deployments.get(record["id"]).router
                return router if router.pid != old.pid else None

            new = wait_until(replaced, "the keeper's new router", timeout=90)
            assert new is not None
            back = time.monotonic()
            wait_until(lambda: sum(s.start > back for s in load.sent()) >= 100,
                       "traffic after the restart", timeout=60)  # fmt: skip
        sent = load.sent()
        failed = [s for s in sent if not s.ok]
        held = [s for s in sent if s.in_flight(killed, dead)]
        # every failure was under way when the router died; none started after
        assert all(s.in_flight(killed, dead) and s.start <= dead for s in failed), (
            [(s.start - killed, s.end - killed, s.status) for s in failed],
            dead - killed,
        )
        assert len(failed) <= len(held), (len(failed), len(held))
        after = [s for s in sent if s.start > dead]
        assert after and all(s.ok for s in after), [s for s in after if not s.ok][:5]
        # those sent while no router ran waited in the backlog and were answered
        assert any(dead < s.start < back and s.ok for s in sent)
        assert {s.variant for s in sent if s.start > back} == {"stable", "baseline"}
        # same address, same token, the weights it had; the replacement audited
        assert new.url == old.url and new.token_file == old.token_file
        with RouterAdmin(new.url, Path(new.token_file).read_text().strip()) as admin:
            now = admin.weights()
        assert now.weights == {"stable": 60.0, "baseline": 40.0, "canary": 0.0}
        assert now.upstreams["baseline"] == stable_url
        entry = next(e for e in store.registry.log_entries("toy", limit=50)
                     if e.action == "deploy.router.restart")  # fmt: skip
        assert entry.actor.startswith("keeper:") and f"pid {old.pid}) died" in (entry.reason or "")
        assert entry.detail["weights"] == {"stable": 60.0, "baseline": 40.0, "canary": 0.0}
        status = baton(env, "deploy", "status", "toy").stdout
        assert "keeper    running" in status and f"pid {new.pid}  running" in status, status
    finally:
        down = baton(env, "deploy", "down", "toy", "--drain-timeout", "5")
    assert down.returncode == 0, down.stderr
    assert not keeper.running() and not supervise.alive(new.pid, new.started)
    assert deployments.active("toy") is None


@pytest.mark.canary
@pytest.mark.xdist_group("canary")
def test_the_keeper_starts_a_dead_stable_server_again(store: Store, tmp_path: Path) -> None:
    """``kill -9`` of the only server: the keeper starts the same version on a new port,
    points the router at it and records it; requests through the router succeed again."""
    env, record = _deployed(store, tmp_path, "server fault test")
    old = ServerProcess.model_validate(record["processes"]["servers"][0])
    router = RouterProcess.model_validate(record["router"])
    deployments = Deployments(store.engine)
    try:
        os.kill(old.pid, signal.SIGKILL)

        def replaced() -> ServerProcess | None:
            stable = deployments.get(record["id"]).server(Variant.STABLE)
            return stable if stable is not None and stable.pid != old.pid else None

        new = wait_until(replaced, "the keeper's new stable server", timeout=90)
        assert new.version == old.version and new.url != old.url
        assert supervise.alive(new.pid, new.started)
        with RouterAdmin(router.url, Path(router.token_file).read_text().strip()) as admin:
            assert admin.weights().upstreams["stable"] == new.url
        row = {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [0.1, 0.2, 0.3, 0.4]}
        answer = httpx.post(f"{router.url}/v2/models/toy/infer", json={"inputs": [row]},
                            timeout=30)  # fmt: skip
        assert answer.status_code == 200 and answer.headers["x-baton-variant"] == "stable"
        targets = Settings(home=tmp_path / "home").scrape_targets
        files = {f.name: json.loads(f.read_text())[0] for f in targets.glob("*.json")}
        address = new.url.removeprefix("http://")
        assert old.url.removeprefix("http://").replace(":", "_") + ".json" not in files
        assert files[address.replace(":", "_") + ".json"]["labels"]["variant"] == "stable"
        entry = next(e for e in store.registry.log_entries("toy", limit=50)
                     if e.action == "deploy.change")  # fmt: skip
        assert entry.actor.startswith("keeper:")
        assert f"toy:1 (pid {old.pid}) died; started again on {new.url}" in (entry.reason or "")
    finally:
        down = baton(env, "deploy", "down", "toy", "--drain-timeout", "5")
    assert down.returncode == 0, down.stderr
    assert not supervise.alive(new.pid, new.started)


def test_a_keeper_handed_no_socket_binds_the_dead_routers_port_or_another(
    store: Store, tmp_path: Path
) -> None:
    """A keeper started again beside a living router could not inherit its socket: it binds
    the router's port once the router is dead, a free one if something took it, and keeps
    that socket for the next restart."""
    canary_world(store, tmp_path / "org")
    with socket.socket() as reserved:  # bound, not listening: a neighbour cannot take the
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # port, a listener
        reserved.bind(("127.0.0.1", 0))  # with SO_REUSEADDR (the keeper's) can
        port = reserved.getsockname()[1]
        router = RouterProcess(pid=4242, started=None, url=f"http://127.0.0.1:{port}",
                               log="r.log", token_file="t")  # fmt: skip
        deployment = recorded(store, router=router)
        settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}")
        launch = Launch(settings, drain_timeout_s=1.0)
        keeper = Keeper(launch, store, "toy", deployment.id, None)
        with keeper.router_socket(deployment) as sock:
            assert sock.getsockname() == ("127.0.0.1", port)
            assert keeper.router_socket(deployment) is sock  # kept for the next restart
        with socket.create_server(("127.0.0.1", port)):  # taken meanwhile
            other = Keeper(launch, store, "toy", deployment.id, None).router_socket(deployment)
            with other:
                assert other.getsockname()[1] != port


@pytest.mark.canary
@pytest.mark.xdist_group("canary")
def test_deploy_up_starts_a_dead_keeper_again_which_then_brings_a_dead_router_back(
    store: Store, tmp_path: Path
) -> None:
    """``kill -9`` of the keeper alone: ``deploy up`` starts a keeper again and touches
    nothing that runs. Handed no socket (only the living router holds one), it binds the
    router's port when the router dies and starts a new router there; from then on it
    holds the socket, so the next restart keeps the address too."""
    env, record = _deployed(store, tmp_path, "keeper fault test")
    old = RouterProcess.model_validate(record["router"])
    settings = Settings(home=tmp_path / "home")
    deployments = Deployments(store.engine)
    first = find_keeper(settings, "toy")
    assert first is not None
    second = None
    try:
        os.kill(first.pid, signal.SIGKILL)
        wait_until(lambda: not first.running(), "the keeper's kill")
        status = " ".join(baton(env, "deploy", "status", "toy").stdout.split())
        assert "keeper not running: a dead router stays dead" in status, status
        assert "`baton deploy up toy` starts it again" in status, status
        up = baton(env, "deploy", "up", "toy")
        assert up.returncode == 0, up.stderr
        said = " ".join(up.stdout.split())
        assert f"toy runs ({deployments.get(record['id']).summary()}, router at {old.url})" in said
        assert "but its keeper did not: started the keeper again" in said, said
        second = find_keeper(settings, "toy")
        assert second is not None and second.pid != first.pid and second.running()
        now = deployments.get(record["id"])
        assert now.revision == record["revision"] and now.router == old  # nothing touched
        (audited,) = [e for e in store.registry.log_entries("toy", limit=50)
                      if e.action == "deploy.keeper.restart"]  # fmt: skip
        assert audited.actor == "sam" and audited.detail["keeper"] == second.pid
        assert "its keeper was not running" in (audited.reason or "")
        refused = baton(env, "deploy", "up", "toy")  # watched again: refused as before
        assert refused.returncode == 1 and "toy is already deployed" in refused.stderr

        def router_after(dead: RouterProcess) -> RouterProcess | None:
            router = deployments.get(record["id"]).router
            return router if router.pid != dead.pid else None

        os.kill(old.pid, signal.SIGKILL)
        new = wait_until(lambda: router_after(old), "the new keeper's router", timeout=90)
        entry = next(e for e in store.registry.log_entries("toy", limit=50)
                     if e.action == "deploy.router.restart")  # fmt: skip
        assert entry.actor.endswith(f":{second.pid}"), entry.actor
        # the port is free once the router died; a neighbour's connection may take it first
        assert new.url == old.url or f"({old.url} was taken)" in (entry.reason or "")
        row = {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [0.1, 0.2, 0.3, 0.4]}
        answer = httpx.post(f"{new.url}/v2/models/toy/infer", json={"inputs": [row]},
                            timeout=30)  # fmt: skip
        assert answer.status_code == 200 and answer.headers["x-baton-variant"] == "stable"
        os.kill(new.pid, signal.SIGKILL)  # now it holds the socket: the same address again
        newer = wait_until(lambda: router_after(new), "the next router", timeout=90)
        assert newer.url == new.url
    finally:
        down = baton(env, "deploy", "down", "toy", "--drain-timeout", "5")
    assert down.returncode == 0, down.stderr
    assert second is not None and not second.running()
    assert deployments.active("toy") is None


def _keeper_of_a_dead_stable_server(
    store: Store, tmp_path: Path, router_url: str
) -> tuple[Keeper, DeploymentRecord]:
    """A deployment on record whose router is this process (alive) and whose stable
    server is long gone."""
    canary_world(store, tmp_path / "org")
    token = tmp_path / "token"
    token.write_text("secret")
    router = RouterProcess(pid=os.getpid(), started=supervise.start_ticks(os.getpid()),
                           url=router_url, log="r.log", token_file=str(token))  # fmt: skip
    deployment = recorded(store, router=router)
    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}")
    sock = listening_socket("127.0.0.1")
    keeper = Keeper(Launch(settings, drain_timeout_s=1.0), store, "toy", deployment.id, sock)
    return keeper, deployment


def test_no_restart_of_the_stable_server_during_a_rollout(store: Store, tmp_path: Path) -> None:
    keeper, deployment = _keeper_of_a_dead_stable_server(store, tmp_path, dead_url())
    Rollouts(store.engine).start(NewRollout(model="toy", from_version=1, to_version=2,
                                            baseline_version=1), "sam")  # fmt: skip
    keeper.keep_stable(deployment)  # the controller owns the servers now
    assert Deployments(store.engine).get(deployment.id).revision == deployment.revision
    assert not (tmp_path / "home" / "logs").exists()  # no server was started
    keeper.sock.close()


def test_a_restart_the_router_cannot_take_is_undone_and_retried_later(
    store: Store, tmp_path: Path
) -> None:
    keeper, deployment = _keeper_of_a_dead_stable_server(store, tmp_path, dead_url())
    keeper.keep_stable(deployment)  # started, but the router is unreachable: stopped again
    (started,) = store.servers.all()
    assert [(m.model, m.version) for m in started.models] == [("toy", 1)]
    assert started.stopped_at is not None
    assert not supervise.alive(started.pid, None)
    assert Deployments(store.engine).get(deployment.id).revision == deployment.revision
    assert not keeper.server_starts.waiting()  # it started: the next look tries again
    keeper.sock.close()


def test_a_restart_finished_after_deploy_down_began_is_stopped_not_recorded(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``deploy down`` stops the keeper while it starts a server: the server it started is
    stopped at once (down would not know it), the router and the record are left alone."""
    from baton.rollout import keeper as keeper_module

    keeper, deployment = _keeper_of_a_dead_stable_server(store, tmp_path, dead_url())
    started = keeper_module.start_server

    def start_then_down_begins(*args: Any, **kwargs: Any) -> ServerProcess:
        server = started(*args, **kwargs)
        keeper.stop()  # SIGTERM from `deploy down`, while the server loaded
        return server

    monkeypatch.setattr(keeper_module, "start_server", start_then_down_begins)
    keeper.keep_stable(deployment)
    (server,) = store.servers.all()
    assert server.stopped_at is not None and not supervise.alive(server.pid, None)
    assert Deployments(store.engine).get(deployment.id).revision == deployment.revision
    assert "stopping the server just started" not in caplog.text  # the router was not asked
    keeper.sock.close()

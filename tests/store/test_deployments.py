"""Local deployments in the store, on SQLite and PostgreSQL: one per model while up,
compare-and-set changes of its servers, every change audited, unreadable rows refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from baton.core.deployment_records import Processes, RouterProcess, ServerProcess, Variant
from baton.errors import Conflict, Corrupt, NotFound
from baton.handover.register import register_handover
from baton.store.deployment_tables import deployments
from baton.store.deployments import DeploymentDown, Deployments, NewDeployment, StaleRevision
from baton.store.store import Store
from tests.handover_factory import write_handover

ROUTER = RouterProcess(pid=10, started=5, url="http://127.0.0.1:8080", log="r.log",
                       token_file="/home/x/router.token")  # fmt: skip


def server(variant: Variant, version: int, port: int) -> ServerProcess:
    return ServerProcess(pid=port, started=7, url=f"http://127.0.0.1:{port}", log=f"{port}.log",
                         variant=variant, version=version)  # fmt: skip


@pytest.fixture
def repo(store: Store, tmp_path: Path) -> Deployments:
    for seed in (1, 2):
        register_handover(store, write_handover(tmp_path / f"toy{seed}", seed=seed), actor="t")
    return Deployments(store.engine)


def new(*servers: ServerProcess) -> NewDeployment:
    return NewDeployment("toy", "host-a", ROUTER, Processes(servers=servers))


def test_up_change_down(repo: Deployments, store: Store) -> None:
    stable = server(Variant.STABLE, 1, 9001)
    first = repo.up(new(stable), "sam", "first deployment")
    assert (first.model, first.hostname, first.revision, first.up) == ("toy", "host-a", 1, True)
    assert first.router == ROUTER and first.server(Variant.STABLE) == stable
    assert first.server(Variant.CANARY) is None and repo.active("toy") == first
    with pytest.raises(Conflict, match="toy is already deployed"):
        repo.up(new(stable), "sue", "twice")
    more = first.processes.with_(server(Variant.BASELINE, 1, 9002)).with_(
        server(Variant.CANARY, 2, 9003)
    )
    changed = repo.change(first.id, more, revision=1, actor="controller", reason="canary")
    assert changed.revision == 2 and changed.server(Variant.CANARY) is not None
    with pytest.raises(StaleRevision, match="changed meanwhile \\(revision 2, not 1\\)"):
        repo.change(first.id, first.processes, revision=1, actor="sue")
    back = repo.change(first.id, changed.processes.without(Variant.BASELINE, Variant.CANARY),
                       revision=2, actor="controller")  # fmt: skip
    assert [p.variant for p in back.processes.servers] == [Variant.STABLE]
    done = repo.down(first.id, revision=3, actor="sam", reason="maintenance")
    assert not done.up and done.stopped_by == "sam" and repo.active("toy") is None
    with pytest.raises(DeploymentDown, match="is down"):
        repo.change(first.id, first.processes, revision=4, actor="sam")
    again = repo.up(new(stable), "sam", "back")
    assert [d.id for d in repo.all()] == [again.id]
    assert [d.id for d in repo.all("toy", up_only=False)] == [first.id, again.id]
    actions = [e.action for e in store.registry.log_entries("toy", limit=10)]
    assert actions[:6] == [
        "deploy.up", "deploy.down", "deploy.change", "deploy.change",
        "deploy.up.refused", "deploy.up",
    ]  # fmt: skip


def test_unknown_and_unreadable(repo: Deployments, store: Store) -> None:
    with pytest.raises(NotFound, match="there is no deployment #5"):
        repo.get(5)
    with pytest.raises(NotFound, match="unknown model"):
        repo.active("nope")
    record = repo.up(new(server(Variant.STABLE, 1, 9001)), "sam")
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(deployments)
            .where(deployments.c.id == record.id)
            .values(processes=[{"variant": "primary"}])
        )
    with pytest.raises(Corrupt, match=f"deployment #{record.id} has a stored record"):
        repo.get(record.id)


def test_a_replaced_router_is_recorded_once_and_audited(repo: Deployments, store: Store) -> None:
    first = repo.up(new(server(Variant.STABLE, 1, 9001)), "sam")
    second = ROUTER.model_copy(update={"pid": 11, "started": 6, "log": "r2.log"})
    weights = {"stable": 50.0, "baseline": 25.0, "canary": 25.0}
    done = repo.router_replaced(first.id, ROUTER, second, actor="keeper:h:1",
                                reason="the router died", weights=weights)  # fmt: skip
    assert done.router == second and done.revision == first.revision + 1
    assert done.processes == first.processes
    entry = store.registry.log_entries("toy", limit=1)[0]
    assert (entry.action, entry.actor, entry.reason) == (
        "deploy.router.restart", "keeper:h:1", "the router died",
    )  # fmt: skip
    before, after = entry.detail["from"], entry.detail["to"]
    assert isinstance(before, dict) and isinstance(after, dict)
    assert before["pid"] == 10 and after["pid"] == 11
    assert entry.detail["weights"] == weights
    with pytest.raises(Conflict, match="router is pid 11 now, not 10: someone else replaced"):
        repo.router_replaced(first.id, ROUTER, second, actor="keeper:h:2", reason="again",
                             weights=weights)  # fmt: skip
    repo.down(first.id, revision=done.revision, actor="sam")
    with pytest.raises(Conflict, match="is down: its router is not replaced"):
        repo.router_replaced(first.id, second, ROUTER, actor="keeper:h:1", reason="late",
                             weights=weights)  # fmt: skip


def test_a_keeper_started_again_is_audited_and_changes_no_record(
    repo: Deployments, store: Store
) -> None:
    first = repo.up(new(server(Variant.STABLE, 1, 9001)), "sam")
    repo.keeper_started(first.id, 4321, actor="sam", reason="it was OOM-killed")
    assert repo.get(first.id) == first
    entry = store.registry.log_entries("toy", limit=1)[0]
    assert (entry.action, entry.actor, entry.reason) == (
        "deploy.keeper.restart", "sam", "it was OOM-killed",
    )  # fmt: skip
    assert entry.detail == {"deployment": first.id, "keeper": 4321}
    repo.down(first.id, revision=first.revision, actor="sam")
    with pytest.raises(DeploymentDown, match="is down: it has no keeper to start"):
        repo.keeper_started(first.id, 4322, actor="sam")

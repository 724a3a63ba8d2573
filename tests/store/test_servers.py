"""Servers recorded in the store: start, swap, stop, and the stale rows of killed servers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from baton.errors import NotFound
from baton.store.servers import RoutedVariant, Routing, ServedModel, ServerFacts
from baton.store.store import Store
from baton.store.tx import utcnow

FACTS = ServerFacts(
    host="10.0.0.7",
    port=8000,
    hostname="node-a",
    pid=4242,
    workers=2,
    cpu_affinity=(0, 1, 2, 3),
    cpu_limit=2.5,
    memory_limit_bytes=4 * 2**30,
    memory_total_bytes=64 * 2**30,
)
DIGITS = ServedModel("digits", 3, "production", max_batch_size=16, threads=2, precision="int8")
TOY = ServedModel("toy", 1, None)


def test_a_started_server_is_live_with_everything_it_said(store: Store) -> None:
    before = utcnow()
    server_id = store.servers.started(FACTS, [DIGITS, TOY], actor="tester")
    (record,) = store.servers.live()
    assert record.id == server_id
    assert (record.host, record.port, record.hostname, record.pid) == (
        "10.0.0.7",
        8000,
        "node-a",
        4242,
    )
    assert record.address == "10.0.0.7:8000"
    assert record.workers == 2
    assert record.models == (DIGITS, TOY)
    assert record.cpu_affinity == (0, 1, 2, 3)
    assert record.cpu_limit == 2.5
    assert record.memory_limit_bytes == 4 * 2**30
    assert record.memory_total_bytes == 64 * 2**30
    assert (record.gpus, record.gpu_model) == (0, None)
    assert record.started_by == "tester"
    assert record.started_at >= before - timedelta(seconds=1)
    assert record.started_at.tzinfo is not None
    assert record.live and record.stopped_at is None
    entry = store.registry.log_entries()[0]
    assert entry.action == "server.start"
    assert entry.detail["server"] == server_id
    assert entry.detail["models"][0]["alias"] == "production"


def test_cores_are_the_pinned_cpus_capped_by_the_quota_and_memory_the_limit_else_ram() -> None:
    from baton.store.servers import ServerRecord

    now = utcnow()
    record = ServerRecord(
        1, "h", 1, "n", 1, 1, (), (0, 1, 2, 3), 2.5, None, 8 * 2**30, 0, None, now, "t", now, None
    )
    assert record.cores == 2.5
    assert record.memory_bytes == 8 * 2**30
    assert replace(record, cpu_limit=None).cores == 4
    assert replace(record, cpu_limit=None, cpu_affinity=()).cores == 1
    assert replace(record, memory_limit_bytes=2**30).memory_bytes == 2**30


def test_stopping_marks_the_row_once_and_it_is_no_longer_live(store: Store) -> None:
    server_id = store.servers.started(FACTS, [DIGITS], actor="tester")
    store.servers.stopped(server_id, actor="tester")
    first = store.servers.get(server_id).stopped_at
    assert first is not None
    store.servers.stopped(server_id, actor="tester")  # again: nothing changes
    assert store.servers.get(server_id).stopped_at == first
    assert store.servers.live() == []
    actions = [e.action for e in store.registry.log_entries()]
    assert actions.count("server.stop") == 1


def test_a_new_server_on_the_same_address_closes_the_killed_ones_row(store: Store) -> None:
    killed = store.servers.started(FACTS, [DIGITS], actor="tester")
    elsewhere = store.servers.started(replace(FACTS, hostname="node-b"), [TOY], actor="tester")
    other_port = store.servers.started(replace(FACTS, port=8001), [TOY], actor="tester")
    new = store.servers.started(replace(FACTS, pid=5000), [DIGITS], actor="tester")
    assert [r.id for r in store.servers.live()] == [elsewhere, other_port, new]
    assert store.servers.get(killed).stopped_at is not None
    assert store.registry.log_entries()[0].detail["closed_stale"] == [killed]


def test_update_models_records_a_swap_and_ignores_no_change(store: Store) -> None:
    server_id = store.servers.started(FACTS, [DIGITS], actor="tester")
    started = store.servers.get(server_id)
    swapped = ServedModel("digits", 4, "production")
    store.servers.update_models(server_id, [swapped], actor="tester")
    after = store.servers.get(server_id)
    assert after.models == (swapped,)
    assert after.updated_at >= started.updated_at
    store.servers.update_models(server_id, [swapped], actor="tester")
    entries = [e for e in store.registry.log_entries() if e.action == "server.models"]
    assert len(entries) == 1
    assert entries[0].detail["from"][0]["version"] == 3
    assert entries[0].detail["to"][0]["version"] == 4


def test_unknown_server_ids_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no server 99 is recorded"):
        store.servers.stopped(99, actor="tester")
    with pytest.raises(NotFound, match="no server 99"):
        store.servers.update_models(99, [TOY], actor="tester")
    with pytest.raises(NotFound, match="no server 99"):
        store.servers.get(99)


def test_all_since_keeps_servers_that_ran_in_the_window(store: Store) -> None:
    old = store.servers.started(FACTS, [DIGITS], actor="tester")
    store.servers.stopped(old, actor="tester")
    running = store.servers.started(replace(FACTS, port=9000), [TOY], actor="tester")
    assert [r.id for r in store.servers.all()] == [old, running]
    assert [r.id for r in store.servers.all(since=utcnow() - timedelta(hours=1))] == [old, running]
    assert [r.id for r in store.servers.all(since=utcnow() + timedelta(hours=1))] == [running]


def test_a_server_with_no_limits_reads_back_none(store: Store) -> None:
    free = replace(FACTS, cpu_limit=None, memory_limit_bytes=None, cpu_affinity=())
    server_id = store.servers.started(free, [], actor="tester")
    record = store.servers.get(server_id)
    assert (record.cpu_limit, record.memory_limit_bytes, record.cpu_affinity) == (None, None, ())
    assert record.models == ()
    assert record.memory_bytes == 64 * 2**30


def test_migration_0004_downgrades_and_upgrades_again(store: Store) -> None:
    from alembic import command

    from baton.store.db import _alembic_config, current_revisions, migrate

    store.servers.started(FACTS, [DIGITS], actor="tester")
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0003")
    assert current_revisions(store.engine) == {"0003"}
    assert "servers" not in sa.inspect(store.engine).get_table_names()
    assert migrate(store.engine) is True
    assert store.servers.live() == []


def test_a_gpu_server_records_its_gpus(store: Store) -> None:
    gpu = replace(FACTS, port=8001, gpus=2, gpu_model="Tesla T4")
    store.servers.started(gpu, [DIGITS], actor="tester")
    (record,) = store.servers.live()
    assert (record.gpus, record.gpu_model) == (2, "Tesla T4")


ROUTING = Routing(
    "digits",
    1,
    (
        RoutedVariant("stable", "http://10.0.0.7:8001", 95.0),
        RoutedVariant("baseline", None, 0.0),
        RoutedVariant("canary", "http://10.0.0.7:8003", 5.0),
    ),
    sticky_header="X-Request-Id",
)


def test_a_router_is_recorded_beside_the_servers_with_its_weights(store: Store) -> None:
    server_id = store.servers.started(FACTS, [DIGITS], actor="tester")
    router_id = store.servers.started(
        replace(FACTS, port=8080, workers=1), [], actor="tester", routing=ROUTING
    )
    assert [s.id for s in store.servers.live()] == [server_id]  # the audit's inventory
    assert [s.id for s in store.servers.all()] == [server_id]
    router = store.servers.get(router_id)
    assert (router.role, router.routing, router.models) == ("router", ROUTING, ())
    assert [s.role for s in store.servers.live(role=None)] == ["server", "router"]
    assert store.servers.live(role="router") == [router]

    moved = replace(ROUTING, generation=2, variants=(
        RoutedVariant("stable", "http://10.0.0.7:8001", 90.0),
        RoutedVariant("baseline", "http://10.0.0.7:8002", 5.0),
        RoutedVariant("canary", "http://10.0.0.7:8003", 5.0),
    ))  # fmt: skip
    store.servers.update_routing(router_id, moved, "tester", by="canary-3", reason="step 1")
    assert store.servers.get(router_id).routing == moved
    store.servers.stopped(router_id, "tester")
    entries = [e for e in store.registry.log_entries() if e.detail.get("server") == router_id]
    assert [e.action for e in entries] == ["router.stop", "router.weights", "router.start"]
    change = entries[1].detail
    assert change["from"] == {"stable": 95.0, "baseline": 0.0, "canary": 5.0}
    assert change["to"] == {"stable": 90.0, "baseline": 5.0, "canary": 5.0}
    assert (change["generation"], change["by"], change["reason"]) == (2, "canary-3", "step 1")
    assert entries[2].detail["routing"]["sticky_header"] == "X-Request-Id"
    with pytest.raises(NotFound, match="not a router"):
        store.servers.update_routing(server_id, moved, "tester")

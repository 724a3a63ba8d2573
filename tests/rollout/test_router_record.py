"""A router is recorded in the store like a server: at start, at each weight change, at stop."""

from __future__ import annotations

import json
import signal

from baton.config import Settings
from baton.rollout.router_admin import RouterAdmin
from baton.store.servers import ServerRecord
from baton.store.store import open_store
from tests.baton_cli import baton
from tests.rollout.conftest import TOKEN, Fleet, Router, StartRouter


def _row(fleet: Fleet, router: Router) -> ServerRecord:
    store = open_store(Settings(home=fleet.home, user="tester"))
    try:
        (row,) = [s for s in store.servers.all(role=None) if s.pid == router.proc.pid]
        return row
    finally:
        store.close()


def test_a_router_is_recorded_with_its_weights_and_each_change(
    fleet: Fleet, router: StartRouter
) -> None:
    r = router("--stable", fleet.a, "--canary", fleet.b, "--weights", "stable=90,canary=10",
               "--sticky-header", "X-Request-Id")  # fmt: skip
    row = _row(fleet, r)
    assert row.role == "router" and row.live and row.models == ()
    assert row.address == r.url.removeprefix("http://")
    assert row.routing is not None
    assert row.routing.model == fleet.model and row.routing.generation == 1
    assert row.routing.weights() == {"stable": 90.0, "baseline": 0.0, "canary": 10.0}
    assert {v.variant: v.url for v in row.routing.variants}["canary"] == fleet.b
    assert row.routing.sticky_header == "X-Request-Id"
    targets = fleet.home / "monitor" / "targets"
    target = targets / f"{row.address.replace(':', '_')}.json"
    assert json.loads(target.read_text())[0]["targets"] == [row.address]

    with RouterAdmin(r.url, TOKEN) as admin:
        state = admin.set_weights({"stable": 75, "canary": 25}, by="canary-7", reason="step 2")
    assert state.recorded is True and state.generation == 2
    changed = _row(fleet, r).routing
    assert changed is not None and changed.generation == 2
    assert changed.weights()["canary"] == 25.0
    store = open_store(Settings(home=fleet.home, user="tester"))
    try:
        entries = [e for e in store.registry.log_entries() if e.detail.get("server") == row.id]
    finally:
        store.close()
    actions = [e.action for e in entries]
    assert "router.start" in actions and "router.weights" in actions
    (weights,) = [e for e in entries if e.action == "router.weights"]
    assert weights.detail["from"]["canary"] == 10.0 and weights.detail["to"]["canary"] == 25.0
    assert (weights.detail["by"], weights.detail["reason"]) == ("canary-7", "step 2")

    listed = baton(fleet.env, "servers", "--json")
    assert listed.returncode == 0, listed.stderr
    found = {s["pid"]: s for s in json.loads(listed.stdout)}
    assert found[r.proc.pid]["role"] == "router"
    assert any(s["role"] == "server" for s in found.values())  # the fleet's servers too
    assert "router" in baton(fleet.env, "servers").stdout

    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(30) == 0
    stopped = _row(fleet, r)
    assert stopped.stopped_at is not None
    assert not target.exists()


def test_the_right_size_inventory_still_reads_servers_only(
    fleet: Fleet, router: StartRouter
) -> None:
    r = router("--stable", fleet.a)
    store = open_store(Settings(home=fleet.home, user="tester"))
    try:
        assert all(s.role == "server" for s in store.servers.live())
        assert r.proc.pid in {s.pid for s in store.servers.live(role=None)}
    finally:
        store.close()

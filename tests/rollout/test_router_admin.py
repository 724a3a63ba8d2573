"""``RouterAdmin``: the controller's client of a router's weight changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from baton.errors import BadInput, Conflict, Forbidden, Unauthorized, Unavailable
from baton.rollout.router_admin import RouterAdmin
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_state import Change, RouteTable
from baton.rollout.weights import Weights
from tests.rollout.conftest import TOKEN, Fleet, InProcess, dead_url

Start = Callable[..., InProcess]


def test_weights_and_servers_change_through_the_client(
    fleet: Fleet, router_in_thread: Start
) -> None:
    changes: list[tuple[int, Change]] = []

    def record(table: RouteTable, change: Change) -> None:
        changes.append((table.generation, change))

    options = RouterOptions(fleet.model, {"stable": fleet.a}, Weights(), admin_token=TOKEN)
    r = router_in_thread(options, record)
    with RouterAdmin(r.url, TOKEN) as admin:
        first = admin.weights()
        assert (first.model, first.generation) == (fleet.model, 1)
        assert first.weights == {"stable": 100.0, "baseline": 0.0, "canary": 0.0}
        assert first.upstreams == {"stable": fleet.a, "baseline": None, "canary": None}
        # the canary's server is given with its first weight (the controller starts it)
        state = admin.set_weights(
            {"stable": 90, "baseline": 5, "canary": 5},
            upstreams={"baseline": fleet.a, "canary": fleet.b},
            generation=1, by="canary-1", reason="step 1",
        )  # fmt: skip
        assert state.generation == 2 and state.recorded is True
        assert state.upstreams["canary"] == fleet.b
        assert admin.weights() == replace(state, recorded=None)
        with pytest.raises(Conflict, match="changed since generation 1"):
            admin.set_weights({"stable": 100}, generation=1)
        with pytest.raises(BadInput, match="add up to 100"):
            admin.set_weights({"stable": 50})
        with pytest.raises(Conflict, match="not applied"):
            admin.set_weights({"stable": 50, "canary": 50}, upstreams={"canary": dead_url()})
        # promotion: the canary's server becomes the stable one; the others are forgotten
        done = admin.set_weights(
            {"stable": 100}, upstreams={"stable": fleet.b, "baseline": None, "canary": None}
        )
        assert done.upstreams == {"stable": fleet.b, "baseline": None, "canary": None}
    assert [(g, c.by, c.reason) for g, c in changes] == [
        (2, "canary-1", "step 1"),
        (3, None, None),
    ]
    with RouterAdmin(r.url, None) as anonymous, pytest.raises(Unauthorized):
        anonymous.set_weights({"stable": 100})
    with RouterAdmin(r.url, "x" * 20) as wrong, pytest.raises(Forbidden):
        wrong.set_weights({"stable": 100})


def test_a_router_that_cannot_be_reached_is_unavailable() -> None:
    with RouterAdmin(dead_url(), TOKEN, timeout_s=2) as admin, pytest.raises(Unavailable):
        admin.weights()


def test_a_failed_record_leaves_the_change_applied(fleet: Fleet, router_in_thread: Start) -> None:
    def broken(table: RouteTable, change: Change) -> None:
        raise RuntimeError("the database is gone")

    options = RouterOptions(
        fleet.model, {"stable": fleet.a, "canary": fleet.b}, Weights(), admin_token=TOKEN
    )
    r = router_in_thread(options, broken)
    with RouterAdmin(r.url, TOKEN) as admin:
        state = admin.set_weights({"stable": 50, "canary": 50})
        assert state.recorded is False
        assert admin.weights().weights["canary"] == 50.0

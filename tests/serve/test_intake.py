"""Request bodies: the shared budget (503 before reading), and large JSON decoded off the loop."""

from __future__ import annotations

import socket
import time

import pytest
from tests.serve.conftest import LiveServer, Start
from tests.serve.test_app import wait_for_metric
from tests.serve.test_guard import INFER, SLOW_HEAD, address, response

from baton.serve.intake import SMALL_BODY, BodyBudget, BodyBudgetFull
from baton.serve.options import MIB
from baton.store.store import Store


def test_the_budget_refuses_what_it_cannot_hold_and_takes_back_what_is_released() -> None:
    budget = BodyBudget(100)
    assert budget.reserve(60) == 60
    with pytest.raises(BodyBudgetFull, match="receiving 60 bytes .* holds at most 100"):
        budget.reserve(41)
    assert budget.reserve(40) == 40
    budget.release(60)
    assert budget.reserve(60) == 60
    assert budget.used == 100


def reserve_and_hold(live: LiveServer, declared: int, sent: int) -> socket.socket:
    sock = socket.create_connection(address(live))
    sock.sendall(SLOW_HEAD + b"Content-Length: %d\r\n\r\n" % declared + b" " * sent)
    return sock


def test_large_bodies_beyond_the_budget_get_503_before_they_are_read(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy", max_body_bytes=1 * MIB, body_budget_bytes=2 * MIB)
    runtime = live.app.runtime
    assert runtime is not None
    held = [reserve_and_hold(live, 900_000, 1000) for _ in range(2)]
    try:
        deadline = time.monotonic() + 10
        while runtime.budget.used < 1_800_000:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with reserve_and_hold(live, 900_000, 0) as refused:
            reply = response(refused)  # answered at once, not after a body
        assert reply.startswith(b"HTTP/1.1 503 "), reply
        assert b"retry-after: 1" in reply
        assert b"holds at most 2097152" in reply
        # small requests never wait on the budget
        assert live.client.post("/v2/models/toy/infer", json=INFER).is_success
    finally:
        for sock in held:
            sock.close()
    wait_for_metric(live, 'baton_requests_total{code="499",model="toy",version="1"} 2.0')
    assert runtime.budget.used == 0  # given back by the requests that left
    text = wait_for_metric(live, 'baton_requests_total{code="503",model="toy",version="1"} 1.0')
    assert 'code="500"' not in text


def test_a_body_without_length_is_counted_as_it_comes(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy", max_body_bytes=1 * MIB, body_budget_bytes=1 * MIB)
    runtime = live.app.runtime
    assert runtime is not None
    with (
        reserve_and_hold(live, 1 * MIB - 1000, 0),  # most of the budget, held
        socket.create_connection(address(live)) as chunked,
    ):
        chunked.sendall(SLOW_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        piece = b"%x\r\n%s\r\n" % (SMALL_BODY, b" " * SMALL_BODY)
        for _ in range(4):  # beyond SMALL_BODY: it must fit the budget, and cannot
            chunked.sendall(piece)
        reply = response(chunked)
    assert reply.startswith(b"HTTP/1.1 503 "), reply

"""What the server's and the router's ASGI apps share: statuses, refusal headers, methods."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.errors import (
    BadInput,
    BatonError,
    Conflict,
    Corrupt,
    FailedCheck,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
)
from baton.serve.asgi import (
    Message,
    MethodNotAllowed,
    Overloaded,
    allow,
    refusal_headers,
    run_lifespan,
    status_for,
)
from baton.serve.batcher import QueueFull
from baton.serve.intake import BodyBudgetFull, BodyTooLarge


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadInput("x"), 400),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (Unauthorized("x"), 401),
        (Forbidden("x"), 403),
        (FailedCheck("x"), 422),
        (Unavailable("x"), 503),
        (Corrupt("x"), 500),
        (BodyTooLarge("x"), 413),  # a BadInput, answered more precisely
        (MethodNotAllowed("x"), 405),
        (BodyBudgetFull("x"), 503),  # unavailable for now, not an overload of work
        (Overloaded("x"), 429),
        (QueueFull("x"), 429),  # a model's queue is the server's overload
    ],
)
def test_each_error_has_its_status(error: BatonError, status: int) -> None:
    assert status_for(error) == status


@given(st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
def test_retry_after_is_a_whole_number_of_seconds_never_below_one(seconds: float) -> None:
    headers = refusal_headers(QueueFull("full", retry_after_s=seconds), b"baton serve")
    assert len(headers) == 1 and headers[0][0] == b"retry-after"
    after = int(headers[0][1])
    assert max(1.0, seconds) <= after < max(1.0, seconds) + 1


def test_an_unauthorized_answer_names_the_realm_and_others_add_nothing() -> None:
    assert refusal_headers(Unauthorized("who?"), b"baton router") == [
        (b"www-authenticate", b'Bearer realm="baton router"')
    ]
    assert refusal_headers(Overloaded("busy"), b"baton router") == [(b"retry-after", b"1")]
    assert refusal_headers(NotFound("no"), b"baton serve") == []


def test_a_method_outside_the_allowed_ones_is_refused_naming_them() -> None:
    allow("PUT", "GET", "PUT")
    with pytest.raises(MethodNotAllowed, match="use GET or PUT here, not DELETE"):
        allow("DELETE", "GET", "PUT")


async def lifespan_of(start: Callable[[], Awaitable[None]]) -> list[Message]:
    """The messages an app's lifespan sends uvicorn for a start-up, then a shutdown."""
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[Message] = []

    async def receive() -> Message:
        return next(incoming)

    async def send(message: Message) -> None:
        sent.append(message)

    async def stop() -> None:
        sent.append({"type": "stopped"})

    await run_lifespan(receive, send, start, stop)
    return sent


def test_the_lifespan_starts_then_stops_and_a_failed_start_is_one_line() -> None:
    async def fine() -> None:
        pass

    async def refused() -> None:
        raise NotFound("no model toy: register it first")

    async def broken() -> None:
        raise KeyError("weights")

    assert asyncio.run(lifespan_of(fine)) == [
        {"type": "lifespan.startup.complete"},
        {"type": "stopped"},
        {"type": "lifespan.shutdown.complete"},
    ]
    assert asyncio.run(lifespan_of(refused)) == [
        {"type": "lifespan.startup.failed", "message": "no model toy: register it first"}
    ]
    assert asyncio.run(lifespan_of(broken)) == [
        {"type": "lifespan.startup.failed", "message": "KeyError('weights')"}
    ]

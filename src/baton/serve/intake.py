"""How a request body comes in: the size limit and the memory budget all bodies share.

Small bodies (up to ``SMALL_BODY``, what uvicorn buffers per connection anyway) take the
fast path: no accounting, decoded inline. A larger body first reserves its declared length
from the server's budget (without a Content-Length, its chunks as they come) and is refused
with 503 and ``Retry-After`` when the budget cannot hold it, before any of it is read; the
reservation is given back when the request ends. Memory held by request bodies is then at
most the budget plus ``SMALL_BODY`` per open connection, however many clients send at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from baton.errors import BadInput, Unavailable
from baton.serve.guard import TIMED_OUT

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

SMALL_BODY = 64 * 1024  # uvicorn's read buffer per connection (its HIGH_WATER_LIMIT)


class BodyTooLarge(BadInput):
    """The request body is over the server's limit (413)."""


class BodyBudgetFull(Unavailable):
    """The bodies being received already hold the server's budget (503, retry shortly)."""

    retry_after_s = 1.0


class ClientGone(Exception):
    """The connection closed before the whole body came: the client left, or was too slow."""

    def __init__(self, *, timed_out: bool) -> None:
        super().__init__("timed out" if timed_out else "client disconnected")
        self.timed_out = timed_out


class BodyBudget:
    """Bytes of large request bodies this process holds (one event loop: no lock)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def reserve(self, size: int) -> int:
        if self.used + size > self.limit:
            raise BodyBudgetFull(
                f"the server is receiving {self.used} bytes of request bodies and holds at "
                f"most {self.limit}: retry shortly"
            )
        self.used += size
        return size

    def release(self, size: int) -> None:
        self.used -= size


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(
    scope: Scope, receive: Receive, limit: int, budget: BodyBudget
) -> tuple[bytes, int]:
    """The whole body, and the bytes reserved for it: release them when the request ends."""
    declared = _declared_length(scope)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    held = budget.reserve(declared) if declared is not None and declared > SMALL_BODY else 0
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone(timed_out=bool(scope.get(TIMED_OUT)))
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            if size > held and size > SMALL_BODY:  # no Content-Length: reserve as it comes
                held += budget.reserve(size - held)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except BaseException:
        budget.release(held)
        raise
    return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), held


def _declared_length(scope: Scope) -> int | None:
    raw = header(scope, b"content-length")
    return int(raw) if raw is not None and raw.isdigit() else None


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"request body is larger than this server's limit of {limit} bytes: send fewer "
        "rows per request (or start the server with a larger --max-body-mb)"
    )

"""What the raw ASGI apps of ``baton serve`` (app.py) and ``baton router``
(rollout/router_app.py) share: the ASGI types, how an error becomes a status and the
headers of a refusal, the method check, the lifespan and the collector settings after
start-up.

The router answers overload, oversized bodies and wrong methods as the server does, so a
client (or ``baton.Client``) behind either handles them the same way.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from baton.errors import HTTP_STATUS, BadInput, BatonError, Unauthorized, Unavailable
from baton.serve.intake import BodyTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


class MethodNotAllowed(BadInput):
    """The path exists but not for this HTTP method (405)."""


class Overloaded(Unavailable):
    """More work is waiting than is taken at once (a model's queue, the router's requests
    in flight): 429, come back after ``retry_after_s``."""

    retry_after_s = 1.0


def status_for(exc: BatonError) -> int:
    if isinstance(exc, BodyTooLarge):
        return 413
    if isinstance(exc, MethodNotAllowed):
        return 405
    if isinstance(exc, Overloaded):
        return 429
    return HTTP_STATUS[exc.kind]


def allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise MethodNotAllowed(f"use {' or '.join(allowed)} here, not {method}")


def refusal_headers(exc: BatonError, realm: bytes) -> Headers:
    """When to come back (429, 503), or how to authenticate (401) in ``realm``."""
    retry_after: float | None = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        return [(b"retry-after", str(max(1, math.ceil(retry_after))).encode())]
    if isinstance(exc, Unauthorized):
        return [(b"www-authenticate", b'Bearer realm="' + realm + b'"')]
    return []


async def run_lifespan(
    receive: Receive,
    send: Send,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> None:
    """ASGI's lifespan: ``start`` before the first request (a failure tells uvicorn why in
    one line, and it exits without serving), ``stop`` after the last one."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await start()
            except Exception as exc:
                text = exc.message if isinstance(exc, BatonError) else repr(exc)
                await send({"type": "lifespan.startup.failed", "message": text})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


def freeze_startup_heap() -> None:
    """Everything loaded at start-up lives as long as the process: keep the collector from
    walking it, and make full collections rare (they paused peers 55-200 ms)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)

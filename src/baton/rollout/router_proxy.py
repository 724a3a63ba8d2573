"""Passing one request on to a variant's server and its answer back, unchanged.

The request keeps its method, path, query and headers but the hop-by-hop ones (RFC 9110
§7.6.1: ``Connection`` and the headers it names, ``Transfer-Encoding``, ...); the binary
tensor extension's ``Inference-Header-Content-Length`` and the body go through untouched.
A body that is all here (a small request: one read) goes in the same write as the head;
a larger one streams to the server as it arrives, at the pace the server reads it, and a
chunked one (no ``Content-Length``) is gathered first, within the server's body limit and
memory budget (serve/intake.py), so the server gets a length. The answer streams back the
same way, with ``X-Baton-Variant`` naming the variant that gave it.
"""

from __future__ import annotations

from dataclasses import dataclass

from baton.rollout.router_upstream import Connection, Upstream
from baton.serve.asgi import Receive, Scope, Send
from baton.serve.guard import TIMED_OUT
from baton.serve.intake import BodyBudget, BodyTooLarge, ClientGone, read_body

VARIANT_HEADER = b"x-baton-variant"
_HOP = (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te",
        b"trailer", b"upgrade", b"proxy-authenticate", b"proxy-authorization")  # fmt: skip
REQUEST_DROPPED = frozenset((*_HOP, b"host", b"expect", b"content-length"))
RESPONSE_DROPPED = frozenset((*_HOP, VARIANT_HEADER))


class ResponseCut(Exception):
    """The server's answer broke off after its head was passed on: the client's
    connection is closed (by uvicorn) so it cannot take the part for the whole."""


@dataclass(slots=True)
class Intake:
    """A request's body as far as it has come: ``first`` is all of it when ``complete``."""

    length: int | None  # Content-Length for the server (None: the request has no body)
    first: bytes
    complete: bool
    held: int = 0  # bytes of the body budget to give back when the request ends


async def take_body(scope: Scope, receive: Receive, limit: int, budget: BodyBudget) -> Intake:
    """Read as much of the body as decides how it is passed on (413 before any of it when
    its declared length is over ``limit``)."""
    chunked = False
    declared: int | None = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            declared = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    if declared is not None and declared > limit:
        raise too_large(limit)
    if chunked:
        body, held = await read_body(scope, receive, limit, budget)
        return Intake(len(body), body, True, held)
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone(timed_out=bool(scope.get(TIMED_OUT)))
    body = message.get("body", b"")
    if message.get("more_body", False):
        return Intake(declared, body, False)
    return Intake(declared if declared is not None or body else None, body, True)


def too_large(limit: int) -> BodyTooLarge:
    """serve's 413 (serve/intake.py), naming the router: the client learns which hop's
    --max-body-mb to raise."""
    return BodyTooLarge(
        f"request body is larger than the router's limit of {limit} bytes: send fewer rows "
        "per request (or start the router with a larger --max-body-mb)"
    )


def request_head(scope: Scope, host: bytes, length: int | None) -> bytes:
    """The request line and headers as the variant's server gets them."""
    target: bytes = scope["raw_path"]
    query: bytes = scope["query_string"]
    if query:
        target += b"?" + query
    parts = [scope["method"].encode(), b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    dropped = REQUEST_DROPPED
    for name, value in headers:
        if name == b"connection":  # the headers it names are for this hop only
            dropped = dropped | {t.strip().lower() for t in value.split(b",")}
    for name, value in headers:
        if name not in dropped:
            parts += (name, b": ", value, b"\r\n")
    if length is not None:
        parts += (b"content-length: ", b"%d" % length, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


async def exchange(
    scope: Scope, receive: Receive, upstream: Upstream, intake: Intake
) -> Connection:
    """Send the request; return the connection once the answer's head has come.

    A failure to connect raises before anything is read from the client beyond ``intake``,
    so the request can still go to another variant."""
    head = request_head(scope, upstream.host, intake.length)
    if intake.complete:
        return await upstream.exchange(head, intake.first)
    connection, _ = await upstream.acquire()
    try:
        connection.send(head + intake.first)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone(timed_out=bool(scope.get(TIMED_OUT)))
            connection.send(message.get("body", b""))
            await connection.drain()
            if not message.get("more_body", False):
                break
        await connection.head()
    except BaseException:
        connection.abandon()
        raise
    return connection


async def relay(connection: Connection, send: Send, variant: bytes) -> int:
    """Pass the answer on; returns its status. The connection goes back to its pool."""
    headers = [(n, v) for n, v in connection.headers if n not in RESPONSE_DROPPED]
    headers.append((VARIANT_HEADER, variant))
    try:
        await send({"type": "http.response.start", "status": connection.status, "headers": headers})
        while not connection.complete:
            chunk = connection.take()
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            try:
                await connection.more()
            except Exception as exc:
                raise ResponseCut(str(exc)) from None
        await send({"type": "http.response.body", "body": connection.take()})
    except BaseException:
        connection.abandon()
        raise
    connection.pool.release(connection)
    return connection.status

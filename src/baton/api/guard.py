"""The API's front door, as ASGI middleware: identity and size before any body is read.

FastAPI reads and parses a request's body before it runs the dependencies that check the
token, so four unauthenticated 200 MiB bodies once cost 1.8 GiB. Here every request but the
open ones (health, the OpenAPI document and its pages) is authenticated from its headers
first; then a declared ``Content-Length`` over the limit is refused, and the body is read
with a running count that stops at the limit (chunked bodies declare no length). Refusals
close the connection, so nothing more of the body is read. The app behind it gets the body
from memory and the person in ``scope["baton.person"]``.
"""

from __future__ import annotations

from collections.abc import Iterable

import anyio.to_thread
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baton.api.errors import STATUS, error_body
from baton.errors import BadInput, BatonError, Kind, Unauthorized
from baton.store.governance import Governance
from baton.store.people import Person, SignInFailed

PERSON = "baton.person"  # the scope key the app reads the authenticated person from
MIB = 1024 * 1024


class TooLarge(BadInput):
    """413 at this edge; bad input to everyone else."""


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        gov: Governance,
        *,
        max_body: int,
        open_paths: Iterable[str],
        own_auth: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.gov = gov
        self.max_body = max_body
        self.open_paths = frozenset(open_paths)
        # path prefixes that check who is calling themselves (the dashboard's session
        # cookie, public files); their bodies still stop at the limit
        self.own_auth = tuple(own_auth)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        is_open = path in self.open_paths
        own = any(path == p or path.startswith(f"{p}/") for p in self.own_auth)
        try:
            if not (is_open or own):
                scope[PERSON] = await self._authenticate(scope)
            body = await self._read_body(scope, receive, 0 if is_open else self.max_body)
        except BatonError as exc:
            await _refuse(exc, scope, receive, send)
            return
        if body is None:
            return  # the client went away
        await self.app(scope, _replay(body, receive), send)

    async def _authenticate(self, scope: Scope) -> Person:
        scheme, _, token = _header(scope, b"authorization").partition(" ")
        source = _source(scope)
        refusals = self.gov.people.refusals
        if scheme.lower() != "bearer" or not token.strip():
            await anyio.to_thread.run_sync(refusals.sign_in_failed, source, "no token")
            raise Unauthorized(
                "send a token: Authorization: Bearer <token> (BATON_TOKEN for the CLI)"
            )
        try:
            person: Person = await anyio.to_thread.run_sync(
                self.gov.people.authenticate, token.strip()
            )
        except SignInFailed as exc:
            await anyio.to_thread.run_sync(refusals.sign_in_failed, source, exc.why, exc.token_id)
            raise
        return person

    async def _read_body(self, scope: Scope, receive: Receive, limit: int) -> bytes | None:
        """The whole body, refused as soon as it is known to be over ``limit`` bytes."""
        declared = _header(scope, b"content-length")
        if declared:
            if not declared.isdigit():
                raise BadInput(f"Content-Length {declared[:20]!r} is not a number of bytes")
            _check_size(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            _check_size(size, limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _check_size(size: int, limit: int) -> None:
    if size <= limit:
        return
    if limit == 0:
        raise TooLarge("this route takes no request body: send none")
    raise TooLarge(
        f"the request body is over {_human(limit)}: send less "
        "(the API's limit is BATON_API_MAX_BODY)"
    )


async def _refuse(exc: BatonError, scope: Scope, receive: Receive, send: Send) -> None:
    status = 413 if isinstance(exc, TooLarge) else STATUS[exc.kind]
    headers = {"Connection": "close"}
    if exc.kind is Kind.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    await JSONResponse(error_body(exc), status_code=status, headers=headers)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, once; then whatever the server says next (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1").strip()
    return ""


def _source(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _human(size: int) -> str:
    return f"{size / MIB:g} MiB" if size >= MIB else f"{size} bytes"

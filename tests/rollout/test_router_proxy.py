"""What the variant's server receives: the request, less the hop-by-hop headers."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from baton.rollout.router_proxy import Intake, request_head, take_body
from baton.serve.intake import BodyBudget, BodyTooLarge, ClientGone


def scope(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict[str, Any]:
    return {"method": "POST", "raw_path": b"/v2/models/m/infer", "query_string": query,
            "headers": headers}  # fmt: skip


def test_the_request_keeps_its_headers_but_the_hop_by_hop_ones() -> None:
    headers = [
        (b"host", b"router:8080"),
        (b"content-type", b"application/octet-stream"),
        (b"inference-header-content-length", b"120"),
        (b"x-request-id", b"abc"),
        (b"connection", b"keep-alive, x-secret-hop"),
        (b"x-secret-hop", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"transfer-encoding", b"chunked"),
        (b"expect", b"100-continue"),
        (b"content-length", b"999"),
    ]
    head = request_head(scope(headers, b"a=1"), b"127.0.0.1:9000", 300)
    assert head == (
        b"POST /v2/models/m/infer?a=1 HTTP/1.1\r\nhost: 127.0.0.1:9000\r\n"
        b"content-type: application/octet-stream\r\ninference-header-content-length: 120\r\n"
        b"x-request-id: abc\r\ncontent-length: 300\r\n\r\n"
    )
    assert b"content-length" not in request_head(scope([]), b"h:1", None)


def _receiver(*messages: MutableMapping[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> MutableMapping[str, Any]:
        return queue.pop(0)

    return receive


def _take(headers: list[tuple[bytes, bytes]], *messages: MutableMapping[str, Any]) -> Intake:
    budget = BodyBudget(1 << 20)
    return asyncio.run(take_body(scope(headers), _receiver(*messages), 1000, budget))


def test_a_body_is_taken_whole_streamed_or_gathered() -> None:
    whole = _take([(b"content-length", b"2")], {"type": "http.request", "body": b"{}"})
    assert (whole.length, whole.first, whole.complete) == (2, b"{}", True)
    none = _take([], {"type": "http.request", "body": b""})
    assert (none.length, none.complete) == (None, True)
    part = {"type": "http.request", "body": b"{", "more_body": True}
    streamed = _take([(b"content-length", b"500")], part)
    assert (streamed.length, streamed.first, streamed.complete) == (500, b"{", False)
    chunks = [part, {"type": "http.request", "body": b"}"}]
    gathered = _take([(b"transfer-encoding", b"chunked")], *chunks)
    assert (gathered.length, gathered.first, gathered.complete) == (2, b"{}", True)


def test_a_body_over_the_limit_or_a_client_that_left_is_refused() -> None:
    with pytest.raises(BodyTooLarge, match="--max-body-mb"):
        _take([(b"content-length", b"5000")])  # refused before anything is read
    big = {"type": "http.request", "body": b"x" * 600, "more_body": True}
    with pytest.raises(BodyTooLarge):
        _take([(b"transfer-encoding", b"chunked")], big, big)
    with pytest.raises(ClientGone):
        _take([(b"content-length", b"5")], {"type": "http.disconnect"})

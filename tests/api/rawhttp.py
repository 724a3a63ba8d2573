"""A raw HTTP/1.1 client for body-limit tests: it keeps sending a body until the server
answers, so a test sees how early the answer came and how much of the body it took."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CHUNK = 256 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    sent: int  # body bytes the server let us send before it answered
    seconds: float


def post(
    url: str,
    path: str,
    size: int,
    *,
    token: str | None = None,
    chunked: bool = False,
    declared: int | None = None,
    timeout: float = 30,
) -> Answer:
    """POST ``size`` bytes of JSON-ish filler; chunked, or with Content-Length ``declared``
    (default: ``size``). Stops sending as soon as the server answers or hangs up."""
    parts = urlsplit(url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {declared or size}")
    start = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sent = _send_until_answered(sock, size, chunked, start + timeout)
        raw = _read_all(sock, start + timeout)
    return _parse(raw, sent, time.monotonic() - start)


def _send_until_answered(sock: socket.socket, size: int, chunked: bool, deadline: float) -> int:
    sent = 0
    filler = b" " * CHUNK
    while sent < size and time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [sock], [], 1.0)
        if readable:
            return sent
        if not writable:
            continue
        piece = filler[: min(CHUNK, size - sent)]
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        try:
            sock.sendall(frame)
        except OSError:  # the server answered and hung up
            return sent
        sent += len(piece)
    if chunked:
        with contextlib.suppress(OSError):
            sock.sendall(b"0\r\n\r\n")
    return sent


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        try:
            piece = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not piece:
            break
        data += piece
        head, sep, rest = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        if sep and length is not None and len(rest) >= length:
            break
    return data


def _parse(raw: bytes, sent: int, seconds: float) -> Answer:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    body = json.loads(rest) if rest.strip() else None
    return Answer(status, headers, body, sent, seconds)

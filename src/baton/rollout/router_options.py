"""How a router runs: the model it fronts, its variants' servers and weights, its limits.

The port limits (connections, header and body timeouts) and the body limit are those of
``baton serve``, with the same defaults, so a client meets the same behaviour through the
router as without it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from baton.errors import BadInput
from baton.rollout.weights import VARIANTS, Weights, check_routable
from baton.serve.options import MIB, MIN_ADMIN_TOKEN

# what an HTTP header name may hold (RFC 9110 token characters)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class Address:
    """Where a variant's server listens (plain HTTP/1.1)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse_upstream(variant: str, url: str) -> Address:
    """``http://HOST:PORT`` of a ``baton serve`` (no path, no TLS: the router and the
    servers it fronts run side by side)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme != "http"
        or not parts.hostname
        or port is None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise BadInput(
            f"the {variant} server {url!r} must be given as http://HOST:PORT (the address "
            "its `baton serve` listens on)"
        )
    return Address(parts.hostname, port)


@dataclass(frozen=True)
class RouterOptions:
    """Everything ``baton router`` takes besides the settings."""

    model: str  # the one model whose versions the router fronts
    upstreams: Mapping[str, str]  # variant -> http://HOST:PORT of its `baton serve`
    weights: Weights
    host: str = "127.0.0.1"
    port: int = 8080
    sticky_header: str | None = None  # hash this request header's value, when present
    seed: int | None = None  # the random choice's seed (None: from the OS)
    failover: bool = True  # a variant that takes no connection: another answers
    max_inflight: int = 1024  # requests passed on at once; beyond, 429 + Retry-After
    max_body_bytes: int = 64 * MIB
    body_budget_bytes: int | None = None  # chunked bodies held at once; None: 4 x max body
    upstream_timeout_s: float = 60.0  # longest wait for a variant's answer (504 beyond)
    max_connections: int = 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    drain_timeout_s: float = 30.0
    admin_token: str | None = field(default=None, repr=False)
    # the applied table, kept across restarts (router_state_file.py); None: memory only
    state_file: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.model:
            problems.append("name the model the router fronts")
        for variant, url in self.upstreams.items():
            if variant not in VARIANTS:
                problems.append(f"unknown variant {variant!r}: the variants are stable, "
                                "baseline and canary")  # fmt: skip
            else:
                parse_upstream(variant, url)
        check_routable(self.weights, self.upstreams)
        if not 0 <= self.port <= 65535:
            problems.append(f"--port {self.port} must lie in 0..65535")
        if self.sticky_header is not None and not _TOKEN.fullmatch(self.sticky_header):
            problems.append(f"--sticky-header {self.sticky_header!r} is not an HTTP header name")
        if self.max_inflight < 1:
            problems.append("--max-inflight must be at least 1")
        if self.max_body_bytes < 1024:
            problems.append("--max-body-mb must allow at least 1 KiB")
        if self.body_budget < self.max_body_bytes:
            problems.append("--body-budget-mb must be at least --max-body-mb")
        if self.max_connections < 1:
            problems.append("--max-connections must be at least 1")
        for flag, value in (
            ("--upstream-timeout", self.upstream_timeout_s),
            ("--header-timeout", self.header_timeout_s),
            ("--body-timeout", self.body_timeout_s),
        ):
            if not 0 < value < math.inf:
                problems.append(f"{flag} must be a number of seconds above 0")
        if self.admin_token is not None and len(self.admin_token) < MIN_ADMIN_TOKEN:
            problems.append(
                f"the admin token must be at least {MIN_ADMIN_TOKEN} characters "
                "(make one with `openssl rand -hex 32`)"
            )
        if problems:
            raise BadInput("; ".join(problems))

    @property
    def body_budget(self) -> int:
        return 4 * self.max_body_bytes if self.body_budget_bytes is None else self.body_budget_bytes

    @property
    def sticky_key(self) -> bytes | None:
        """The sticky header as the server hands it over (lower case), or None."""
        return None if self.sticky_header is None else self.sticky_header.lower().encode()

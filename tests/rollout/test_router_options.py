"""Router options: the servers' URLs, the weights against them, and the limits."""

from __future__ import annotations

import pytest

from baton.errors import BadInput
from baton.rollout.router_options import Address, RouterOptions, parse_upstream
from baton.rollout.weights import Weights

A = {"stable": "http://127.0.0.1:8001"}


def test_a_server_is_http_host_and_port() -> None:
    assert parse_upstream("stable", "http://127.0.0.1:8001") == Address("127.0.0.1", 8001)
    assert parse_upstream("canary", " http://models.local:80/ ").url == "http://models.local:80"
    assert parse_upstream("stable", "http://[::1]:9").url == "http://[::1]:9"
    for bad in ("https://a:1", "http://a", "http://a:1/v2", "a:1", "http://u@a:1",
                "http://a:99999", "http://a:1?x=1", ""):  # fmt: skip
        with pytest.raises(BadInput, match="http://HOST:PORT"):
            parse_upstream("stable", bad)


def test_options_are_checked_together() -> None:
    options = RouterOptions("digits", A, Weights(), sticky_header="X-Request-Id")
    assert options.sticky_key == b"x-request-id"
    assert options.body_budget == 4 * options.max_body_bytes
    with pytest.raises(BadInput, match="canary has weight above 0 but no server"):
        RouterOptions("digits", A, Weights(90, 0, 10))
    with pytest.raises(BadInput) as caught:
        RouterOptions(
            "digits", {**A, "shadow": "http://a:1"}, Weights(), port=70000,
            sticky_header="X Request", max_inflight=0, upstream_timeout_s=0,
            admin_token="short",
        )  # fmt: skip
    for part in ("unknown variant 'shadow'", "--port 70000", "--sticky-header",
                 "--max-inflight", "--upstream-timeout", "at least 16 characters"):  # fmt: skip
        assert part in caught.value.message

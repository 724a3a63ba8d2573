"""The router as clients meet it: real ``baton router`` processes in front of real
``baton serve`` processes of the example model."""

from __future__ import annotations

import math
import socket
import struct
import threading
from collections import Counter

import httpx
import orjson
import pytest

from baton.errors import Forbidden
from baton.rollout.router_admin import RouterAdmin
from tests.rollout.conftest import ROW, TOKEN, Fleet, StartRouter, dead_url
from tests.waiting import wait_until

ADMIN = {"Authorization": f"Bearer {TOKEN}"}
BODY = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64], "data": ROW}]}


def test_requests_split_by_weight_within_binomial_bounds(fleet: Fleet, router: StartRouter) -> None:
    r = router("--stable", fleet.a, "--baseline", fleet.b, "--canary", fleet.b,
               "--weights", "stable=70,baseline=0,canary=30", "--seed", "7")  # fmt: skip
    n = 400
    seen = Counter()
    for _ in range(n):
        response = r.infer()
        assert response.status_code == 200, response.text
        seen[response.headers["x-baton-variant"]] += 1
    sigma = math.sqrt(n * 0.3 * 0.7)
    assert abs(seen["canary"] - 0.3 * n) <= 4 * sigma, seen
    assert seen["baseline"] == 0  # weight 0: nothing, though it has a server
    assert r.metric("baton_router_requests_total", variant="canary", code="200") == seen["canary"]
    assert r.metric("baton_router_requests_total", variant="stable", code="200") == seen["stable"]
    assert r.metric("baton_router_weight", variant="canary") == 30.0
    assert (
        r.metric("baton_router_request_duration_seconds_count", variant="stable") == seen["stable"]
    )


def test_the_same_request_id_goes_to_the_same_variant(fleet: Fleet, router: StartRouter) -> None:
    r = router("--stable", fleet.a, "--canary", fleet.b, "--weights", "stable=50,canary=50",
               "--sticky-header", "X-Request-Id")  # fmt: skip
    first: dict[str, str] = {}
    for round_ in range(3):
        for i in range(60):
            rid = f"req-{i}"
            variant = r.infer({"X-Request-Id": rid}).headers["x-baton-variant"]
            assert first.setdefault(rid, variant) == variant, (rid, round_)
    assert set(first.values()) == {"stable", "canary"}
    assert r.infer().status_code == 200  # without the header: a random choice
    # as the canary's share grows, an id the canary answered stays with the canary
    with RouterAdmin(r.url, TOKEN) as admin:
        admin.set_weights({"stable": 20, "canary": 80})
    for rid, variant in first.items():
        if variant == "canary":
            assert r.infer({"X-Request-Id": rid}).headers["x-baton-variant"] == "canary"


def test_weights_change_under_load_without_a_failed_request(
    fleet: Fleet, router: StartRouter
) -> None:
    r = router("--stable", fleet.a, "--baseline", fleet.a, "--canary", fleet.b)
    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=r.url, timeout=30) as client:
            while not stop.is_set():
                response = client.post(f"/v2/models/{fleet.model}/infer", json=BODY)
                statuses[response.status_code] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        with RouterAdmin(r.url, TOKEN) as admin:
            for step in (5, 10, 25, 50, 0):
                before = sum(statuses.values())
                state = admin.set_weights(
                    {"stable": 100 - 2 * step, "baseline": step, "canary": step},
                    by="tester", reason=f"step {step}",
                )  # fmt: skip
                assert state.weights["canary"] == step
                wait_until(lambda b=before: sum(statuses.values()) > b + 20, "requests to pass")
            # applied at once: from the answer on, no request goes where the weight is 0
            admin.set_weights({"canary": 100})
            assert {r.infer().headers["x-baton-variant"] for _ in range(20)} == {"canary"}
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert set(statuses) == {200}, statuses
    assert r.metric("baton_router_inflight_requests") == 0


def test_weight_changes_need_the_admin_token(fleet: Fleet, router: StartRouter) -> None:
    r = router("--stable", fleet.a, "--canary", fleet.b)
    change = {"weights": {"stable": 50, "canary": 50}}
    missing = r.client.put("/router/weights", json=change)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.json()["error"]
    wrong = r.client.put("/router/weights", json=change, headers={"Authorization": "Bearer x" * 3})
    assert wrong.status_code == 403
    assert r.client.get("/router/weights").json()["weights"]["canary"] == 0  # unchanged
    with (
        RouterAdmin(r.url, "not-the-token-but-long-enough") as admin,
        pytest.raises(Forbidden, match="not this server's"),
    ):
        admin.set_weights({"stable": 50, "canary": 50})
    off = router("--stable", fleet.a, token=False)
    refused = off.client.put(
        "/router/weights", json=change, headers={"Authorization": "Bearer " + TOKEN}
    )
    assert refused.status_code == 403
    assert "--admin-token-file" in refused.json()["error"]


BAD_CHANGES: list[tuple[dict[str, object], int, str]] = [
    ({"weights": {"stable": 90, "canary": 5}}, 400, "add up to 100"),
    ({"weights": {"stable": 90, "canary": 15, "baseline": -5}}, 400, "0 or more"),
    ({"weights": {"stable": 50, "shadow": 50}}, 400, "unknown variant 'shadow'"),
    ({"weights": {"stable": 50, "baseline": 50}}, 400, "baseline has weight above 0 but no"),
    ({"weights": {"stable": "lots"}}, 400, "must be a number"),
    ({"weights": {"stable": 100}, "upstreams": {"canary": "ftp://x"}}, 400, "http://HOST"),
    ({"weights": {"stable": 100}, "colour": "red"}, 400, "unknown field 'colour'"),
    ({"weights": {"stable": 100}, "generation": 7}, 409, "changed since generation 7"),
    ({"stable": 100}, 400, 'send {"weights"'),
]


def test_bad_weight_changes_are_refused_with_the_reason(fleet: Fleet, router: StartRouter) -> None:
    r = router("--stable", fleet.a, "--canary", fleet.b)
    before = r.client.get("/router/weights").json()
    for change, status, message in BAD_CHANGES:
        answer = r.client.put("/router/weights", json=change, headers=ADMIN)
        assert answer.status_code == status, (change, answer.text)
        assert message in answer.json()["error"], (change, answer.text)
    garbage = r.client.put("/router/weights", content=b"\xff{", headers=ADMIN)
    assert garbage.status_code == 400
    assert "not JSON" in garbage.json()["error"]
    # a server that is not ready (here: none listens) gets no weight, and nothing changes
    late = {"weights": {"stable": 90, "baseline": 10}, "upstreams": {"baseline": dead_url()}}
    down = r.client.put("/router/weights", headers=ADMIN, json=late)
    assert down.status_code == 409
    assert "baseline" in down.json()["error"] and "not applied" in down.json()["error"]
    assert r.client.get("/router/weights").json() == before
    assert r.metric("baton_router_weight", variant="baseline") == 0


def test_a_variant_that_is_down_answers_502_and_is_counted(
    fleet: Fleet, router: StartRouter
) -> None:
    down = dead_url()
    r = router("--stable", fleet.a, "--canary", down, "--weights", "stable=0,canary=100")
    answer = r.infer()
    assert answer.status_code == 502
    assert "canary" in answer.json()["error"] and "takes no connection" in answer.json()["error"]
    assert r.metric("baton_router_requests_total", variant="canary", code="502") == 1
    assert r.metric("baton_router_upstream_errors_total", variant="canary", reason="connect") == 1
    ready = r.client.get("/v2/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"ready": False, "variants": {"canary": False}}
    # beside a stable variant that works, the canary's requests go there instead
    both = router("--stable", fleet.a, "--canary", down, "--weights", "stable=50,canary=50")
    assert {both.infer().status_code for _ in range(20)} == {200}
    failed = both.metric("baton_router_upstream_errors_total", variant="canary", reason="connect")
    assert failed > 0
    assert both.metric("baton_router_requests_total", variant="stable", code="200") == 20
    # unless failover is off: then the canary's share fails
    strict = router("--stable", fleet.a, "--canary", down, "--weights", "stable=50,canary=50",
                    "--no-failover", "--seed", "1")  # fmt: skip
    codes = Counter(strict.infer().status_code for _ in range(20))
    assert set(codes) == {200, 502}
    assert strict.metric("baton_router_requests_total", variant="canary", code="502") == codes[502]


def _partial_request(url: str, model: str, declared: int, sent: bytes) -> socket.socket:
    """A POST whose body has only begun to arrive: it stays in flight at the router."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nhost: x\r\n"
            f"content-type: application/json\r\ncontent-length: {declared}\r\n\r\n")  # fmt: skip
    sock.sendall(head.encode() + sent)
    return sock


def test_overload_is_429_with_retry_after_and_a_client_that_leaves_is_counted(
    fleet: Fleet, router: StartRouter
) -> None:
    r = router("--stable", fleet.a, "--max-inflight", "2")
    slow = [_partial_request(r.url, fleet.model, 1000, b'{"inputs": [') for _ in range(2)]
    try:
        wait_until(lambda: r.metric("baton_router_inflight_requests") == 2, "two in flight")
        refused = r.infer()
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert "--max-inflight" in refused.json()["error"]
        assert r.metric("baton_router_requests_total", variant="none", code="429") == 1
    finally:
        for sock in slow:
            sock.close()
    wait_until(lambda: r.metric("baton_router_inflight_requests") == 0, "the slow ones to go")
    assert r.metric("baton_router_requests_total", variant="stable", code="499") == 2
    assert r.infer().status_code == 200


def test_an_oversized_body_is_413_before_it_is_read(fleet: Fleet, router: StartRouter) -> None:
    r = router("--stable", fleet.a, "--max-body-mb", "0.01")
    big = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [80, 64], "data": ROW * 80}]}
    answer = r.client.post(f"/v2/models/{fleet.model}/infer", json=big)
    assert answer.status_code == 413
    assert "--max-body-mb" in answer.json()["error"]
    chunked = r.client.post(
        f"/v2/models/{fleet.model}/infer", content=iter([b"x" * 8000, b"y" * 8000])
    )
    assert chunked.status_code == 413
    assert r.metric("baton_router_requests_total", variant="none", code="413") == 2
    assert r.infer().status_code == 200


def test_garbage_is_refused_and_the_router_carries_on(fleet: Fleet, router: StartRouter) -> None:
    r = router("--stable", fleet.a)
    bad_json = r.client.post(f"/v2/models/{fleet.model}/infer", content=b"{not json")
    assert bad_json.status_code == 400  # the server's answer, passed on
    assert "error" in bad_json.json() and bad_json.headers["x-baton-variant"] == "stable"
    host, port = r.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 400")
    assert r.client.post("/router/weights").status_code == 405
    assert r.client.delete(f"/v2/models/{fleet.model}").status_code == 405
    other = r.client.get("/v2/models/another-model")
    assert other.status_code == 404 and fleet.model in other.json()["error"]
    assert r.client.get("/nowhere").status_code == 404
    load = r.client.post(f"/v2/repository/models/{fleet.model}/load", headers=ADMIN)
    assert load.status_code == 403 and "each version's" in load.json()["error"]
    assert r.infer().status_code == 200
    assert r.metric("baton_router_requests_total", variant="stable", code="400") == 1


def test_the_v2_routes_pass_through_unchanged(fleet: Fleet, router: StartRouter) -> None:
    r = router("--stable", fleet.a)
    direct = httpx.Client(base_url=fleet.a, timeout=30)
    for path in ("/v2", f"/v2/models/{fleet.model}", f"/v2/models/{fleet.model}/ready",
                 f"/v2/models/{fleet.model}/versions/1", "/v2/models/stats"):  # fmt: skip
        routed, plain = r.client.get(path), direct.get(path)
        assert (routed.status_code, routed.content) == (plain.status_code, plain.content), path
        assert routed.headers["x-baton-variant"] == "stable"
    assert r.client.get("/v2/health/live").json() == {"live": True}
    assert r.client.get("/v2/health/ready").json() == {"ready": True, "variants": {"stable": True}}
    # the binary tensor extension: the JSON header's length travels in a header both ways
    header = orjson.dumps({
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64],
                    "parameters": {"binary_data_size": 256}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
    })  # fmt: skip
    body = header + struct.pack("<64f", *ROW)
    headers = {"Inference-Header-Content-Length": str(len(header))}
    path = f"/v2/models/{fleet.model}/infer"
    routed, plain = (c.post(path, content=body, headers=headers) for c in (r.client, direct))
    assert routed.status_code == plain.status_code == 200
    assert routed.content == plain.content
    length = "inference-header-content-length"
    assert routed.headers[length] == plain.headers[length]
    direct.close()


def test_large_and_chunked_bodies_stream_through(fleet: Fleet, router: StartRouter) -> None:
    r = router("--stable", fleet.a)
    rows = 1000  # 250 KiB in, 130 KiB out: both stream
    big = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [rows, 64],
                       "data": ROW * rows}]}  # fmt: skip
    path = f"/v2/models/{fleet.model}/infer"
    routed = r.client.post(path, json=big)
    with httpx.Client(base_url=fleet.a, timeout=30) as direct:
        plain = direct.post(path, json=big)
    assert routed.status_code == 200 and len(routed.content) > 64 * 1024
    assert routed.content == plain.content
    text = orjson.dumps(BODY)
    chunked = r.client.post(path, content=iter([text[:50], text[50:]]))  # no Content-Length
    assert chunked.status_code == 200
    assert chunked.json()["outputs"][0]["shape"] == [1, 10]


class Misbehaving:
    """A server on a free loopback port that reads a request and then misbehaves."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer  # None: never answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)
            request = conn.recv(65536)
            if b"/ready " in request:  # readiness: a proper answer, one per connection
                conn.sendall(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}")
                conn.close()
            elif self.answer is not None:
                conn.sendall(self.answer)
                conn.close()

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def test_a_slow_or_broken_variant_is_504_or_502(fleet: Fleet, router: StartRouter) -> None:
    silent = Misbehaving(None)
    cut = Misbehaving(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"outputs"')
    garbled = Misbehaving(b"SSH-2.0-OpenSSH_9.2\r\n")
    try:
        slow = router("--stable", silent.url, "--upstream-timeout", "0.5")
        answer = slow.infer()
        assert answer.status_code == 504
        assert "did not answer within 0.5 s" in answer.json()["error"]
        assert slow.metric("baton_router_upstream_errors_total", variant="stable",
                           reason="timeout") == 1  # fmt: skip
        broken = router("--stable", cut.url, "--baseline", garbled.url,
                        "--weights", "stable=0,baseline=100")  # fmt: skip
        bad = broken.infer()
        assert bad.status_code == 502 and "not HTTP/1.1" in bad.json()["error"]
        with RouterAdmin(broken.url, TOKEN) as admin:
            admin.set_weights({"stable": 100})
        with pytest.raises(httpx.RemoteProtocolError):  # cut short: the client must know
            broken.infer()
        assert broken.metric("baton_router_requests_total", variant="stable", code="502") == 1
        assert broken.metric("baton_router_upstream_errors_total", variant="stable",
                             reason="reset") == 1  # fmt: skip
        assert broken.client.get("/v2/health/live").status_code == 200
    finally:
        for server in (silent, cut, garbled):
            server.close()

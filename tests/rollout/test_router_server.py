"""The router process: it binds before it says anything, and drains on SIGTERM."""

from __future__ import annotations

import signal
import socket

from baton.rollout.router_app import RouterApp
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_server import uvicorn_config
from baton.rollout.weights import Weights
from tests.baton_cli import baton
from tests.rollout.conftest import ROW, Fleet, StartRouter
from tests.waiting import wait_until


def test_a_taken_port_is_one_line_naming_its_holder(fleet: Fleet) -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        run = baton(fleet.env, "router", fleet.model, "--stable", fleet.a, "--port", str(port))
    assert run.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "holds it" in run.stderr and "--port" in run.stderr


def test_sigterm_lets_the_requests_in_flight_finish(fleet: Fleet, router: StartRouter) -> None:
    r = router("--stable", fleet.a)
    body = (
        '{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64], "data": '
        + str(ROW)
        + "}]}"
    ).encode()
    host, port = r.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (f"POST /v2/models/{fleet.model}/infer HTTP/1.1\r\nhost: x\r\n"
                f"content-length: {len(body)}\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode() + body[:10])
        wait_until(lambda: r.metric("baton_router_inflight_requests") == 1, "one in flight")
        r.proc.send_signal(signal.SIGTERM)
        sock.sendall(body[10:])
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert r.proc.wait(30) == 0


def test_uvicorn_runs_the_router_as_serve_runs_its_app() -> None:
    options = RouterOptions("m", {"stable": "http://127.0.0.1:1"}, Weights(), drain_timeout_s=2.5)
    config = uvicorn_config(RouterApp(options))
    assert config.timeout_graceful_shutdown == 3
    assert (config.date_header, config.server_header, config.proxy_headers) == (False, False, False)

"""The router process: it binds before it says anything, and drains on SIGTERM."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

from baton.rollout.router_app import RouterApp
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_server import uvicorn_config
from baton.rollout.weights import Weights
from tests.baton_cli import baton
from tests.rollout.conftest import ROW, TOKEN, Fleet, StartRouter
from tests.waiting import wait_until

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


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


def test_a_router_with_a_state_file_starts_again_from_what_it_applied(
    fleet: Fleet, router: StartRouter, tmp_path: Path
) -> None:
    state = tmp_path / "router" / "state.json"
    args = ("--stable", fleet.a, "--canary", fleet.b, "--weights", "stable=90,canary=10",
            "--state-file", str(state))  # fmt: skip
    missing = baton(fleet.env, "router", fleet.model, *args, "--port", "0")
    assert missing.returncode == 2  # its folder does not exist: said at start, one line
    assert f"cannot write the router's state file {state}" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    state.parent.mkdir()
    first = router(*args)
    assert first.announced["resumed_from"] is None
    promote = {"weights": {"stable": 100}, "upstreams": {"stable": fleet.b}, "reason": "promoted"}
    assert first.client.put("/router/weights", json=promote, headers=ADMIN).is_success
    first.stop()
    again = router(*args)  # the same command line: the table it applied last
    assert again.announced["resumed_from"] == str(state)
    table = again.client.get("/router/weights").json()
    assert (table["generation"], table["weights"]["stable"]) == (2, 100.0)
    assert table["upstreams"]["stable"] == fleet.b
    assert {again.infer().headers["x-baton-variant"] for _ in range(20)} == {"stable"}
    # a change that cannot be saved is not applied: a restart would undo it
    state.unlink()
    state.mkdir()
    back = {"weights": {"stable": 50, "canary": 50}}
    refused = again.client.put("/router/weights", json=back, headers=ADMIN)
    assert refused.status_code == 503, refused.text
    assert "cannot write the router's state file" in refused.json()["error"]
    assert again.client.get("/router/weights").json() == table
    again.stop()
    state.rmdir()
    # another command line (a newly rendered file) starts from its own weights
    fresh = router("--stable", fleet.a, "--state-file", str(state))
    table = fresh.client.get("/router/weights").json()
    assert (table["generation"], table["upstreams"]["stable"]) == (1, fleet.a)

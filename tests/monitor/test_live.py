"""Live traffic of servers: read from a real /metrics endpoint, or marked unreachable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.monitor.live import from_metrics, quantile, traffic

EXPOSITION = """# TYPE baton_requests_total counter
baton_requests_total{model="toy",version="2",code="200"} 90
baton_requests_total{model="toy",version="2",code="500"} 10
# TYPE baton_request_duration_seconds histogram
baton_request_duration_seconds_bucket{model="toy",version="2",le="0.01"} 50
baton_request_duration_seconds_bucket{model="toy",version="2",le="0.1"} 100
baton_request_duration_seconds_bucket{model="toy",version="2",le="+Inf"} 100
baton_request_duration_seconds_count{model="toy",version="2"} 100
baton_request_duration_seconds_sum{model="toy",version="2"} 2.0
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1000
"""


@pytest.fixture
def metrics_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = EXPOSITION.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_servers_own_metrics(metrics_server: str) -> None:
    found = from_metrics(metrics_server, now=1100)
    assert found.source == "metrics" and found.problem is None
    (row,) = found.models
    assert (row.model, row.version, row.requests) == ("toy", "2", 100)
    assert row.rps == pytest.approx(1.0) and row.errors == pytest.approx(0.1)
    assert row.error_share == pytest.approx(0.1)
    # rank 99 of 100 falls in the (0.01, 0.1] bucket, 49 of its 50 requests in
    assert row.p99_ms == pytest.approx(1000 * (0.01 + 0.09 * 49 / 50))


def test_an_unreachable_server_is_said_so() -> None:
    found = traffic(["127.0.0.1:1"], None, timeout=1)["127.0.0.1:1"]
    assert found.source == "unreachable" and found.models == [] and found.problem


def test_an_unreachable_prometheus_marks_every_server() -> None:
    found = traffic(["a:1", "b:2"], "http://127.0.0.1:1", timeout=1)
    assert {t.source for t in found.values()} == {"unreachable"}


@given(st.lists(st.floats(0.001, 10), min_size=1, max_size=20), st.integers(1, 1000))
def test_quantile_stays_within_the_buckets(bounds: list[float], count: int) -> None:
    edges = sorted(set(bounds))
    buckets = [(b, count * (i + 1) / len(edges)) for i, b in enumerate(edges)]
    q = quantile([*buckets, (float("inf"), float(count))], 0.99)
    assert q is not None and 0 <= q <= edges[-1]


def test_quantile_of_nothing_is_none() -> None:
    assert quantile([], 0.99) is None
    assert quantile([(0.1, 0.0), (float("inf"), 0.0)], 0.99) is None

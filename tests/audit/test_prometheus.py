"""The Prometheus HTTP API client against the real server, and its one-line failures."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.audit.prometheus import Prometheus, join_ranges, parse_retention, split_range
from baton.core.metric_names import MODEL_INFO, REQUESTS_TOTAL
from baton.errors import BadInput, Unavailable
from tests.audit.conftest import Backfilled, start_tsdb_prometheus
from tests.baton_cli import free_port


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15d", 15 * 86400), ("15d or 10GiB", 15 * 86400), ("10GiB", None), ("", None)],
)
def test_retention_takes_the_time_part(text: str, seconds: float | None) -> None:
    assert parse_retention(text) == seconds


@given(st.text(max_size=20))
def test_retention_never_crashes(text: str) -> None:
    value = parse_retention(text)
    assert value is None or value >= 0


@pytest.fixture
def prom(backfilled: Backfilled) -> Iterator[Prometheus]:
    with Prometheus(backfilled.url) as client:
        yield client


def test_instant_query_returns_labels_and_values(prom: Prometheus, backfilled: Backfilled) -> None:
    end = float(backfilled.fleet.timestamps()[-1])
    rows = prom.instant(f"count by (model) ({MODEL_INFO})", end)
    counts = {labels["model"]: value for labels, value in rows}
    assert counts["ranker"] == 2  # the steady deployment's two replicas
    assert prom.instant("1 + 1", end) == [({}, 2.0)]  # a scalar answer
    assert prom.queries == 2


def test_range_query_returns_arrays(prom: Prometheus, backfilled: Backfilled) -> None:
    end = float(backfilled.fleet.timestamps()[-1])
    rows = prom.range(f'{MODEL_INFO}{{model="ranker"}}', end - 3600, end, 600)
    assert len(rows) == 2
    for labels, ts, values in rows:
        assert labels["model"] == "ranker"
        assert ts.dtype == np.float64
        assert list(ts) == [end - 3600 + 600 * k for k in range(7)]
        assert set(values.tolist()) == {1.0}


def test_retention_is_read_from_runtime_info(prom: Prometheus) -> None:
    assert prom.retention() == 3650 * 86400


def test_runtime_info_gives_retention_and_cores_in_one_call(prom: Prometheus) -> None:
    runtime = prom.runtime()
    assert runtime.retention_s == 3650 * 86400
    assert runtime.cores is not None and runtime.cores >= 1
    assert prom.queries == 1


def test_a_range_over_the_point_limit_is_refused_before_asking(prom: Prometheus) -> None:
    with pytest.raises(BadInput, match="above Prometheus's limit of 11000"):
        prom.range("up", 0, 11000 * 60, 60)
    assert prom.queries == 0
    prom.range("up", 0, 10999 * 60, 60)  # exactly at the limit: allowed


def test_a_query_prometheus_refuses_names_the_error_and_the_query(prom: Prometheus) -> None:
    with pytest.raises(BadInput) as caught:
        prom.instant("sum by (model) (" + "x" * 200, 0)
    message = caught.value.message
    assert "bad_data" in message
    assert "sum by (model) (xxx" in message
    assert "\n" not in message
    assert len(message) < 400


def test_unreachable_is_one_line_with_the_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Prometheus(url) as client, pytest.raises(Unavailable) as caught:
        client.instant("up", 0)
    assert caught.value.message == (
        f"Prometheus at {url} is unreachable (connection refused): "
        "start it or pass --prometheus URL"
    )


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts connections, never reads or answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with Prometheus(url, timeout=0.3) as client, pytest.raises(Unavailable) as caught:
            client.instant("up", 0)
    assert "did not answer within 0.3 s for 'up'" in caught.value.message


@pytest.fixture
def not_prometheus() -> Iterator[str]:
    """A web server that is not Prometheus: HTML and a 404 for every path."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            body = b"<html>not here</html>"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_that_is_not_prometheus_says_so(not_prometheus: str) -> None:
    with Prometheus(not_prometheus) as client:
        with pytest.raises(BadInput, match=r"is not a Prometheus HTTP API \(HTTP 404"):
            client.instant("up", 0)
        with pytest.raises(BadInput, match="pass the Prometheus base URL"):
            client.retention()


@st.composite
def _ranges(draw: st.DrawFn) -> tuple[float, float, float]:
    start = draw(st.floats(0, 2e9, allow_nan=False))
    step = draw(st.sampled_from([1.0, 15.0, 60.0, 300.0, 0.5]))
    points = draw(st.integers(2, 11_000))
    return start, start + (points - 1) * step + draw(st.floats(0, 0.99)) * step, step


def _steps(start: float, end: float, step: float) -> list[int]:
    """The milliseconds Prometheus evaluates a range query at."""
    begin, stop, every = round(start * 1000), round(end * 1000), round(step * 1000)
    return list(range(begin, stop + 1, every))


@given(_ranges())
def test_the_halves_of_a_range_have_exactly_its_steps(span: tuple[float, float, float]) -> None:
    start, end, step = span
    halves = split_range(start, end, step)
    assert halves is not None
    first, second = halves
    assert _steps(*first, step) + _steps(*second, step) == _steps(start, end, step)
    assert _steps(*first, step) and _steps(*second, step)


def test_a_range_of_one_step_is_not_split() -> None:
    assert split_range(100.0, 100.0, 15.0) is None
    assert split_range(100.0, 114.9994, 15.0) is None  # 114.999 s as sent: one step
    assert split_range(100.0, 114.9996, 15.0) is not None  # sent as 115.000 s: two
    assert split_range(100.0, 115.0, 15.0) == ((100.0, 100.0), (115.0, 115.0))


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 5)), max_size=8),
       st.integers(0, 5))  # fmt: skip
def test_joining_two_halves_gives_back_the_whole(series: list[tuple[str, int]], cut: int) -> None:
    """Each series has points at 0..n-1; cut at ``cut``: the join is the uncut answer (a
    series with no point in one half is absent from that half, as Prometheus answers)."""
    whole = {name: n for name, n in series}

    def half(lo: int, hi: int) -> list[tuple[dict[str, str], Any, Any]]:
        out = []
        for name, n in whole.items():
            ts = np.arange(lo, min(hi, n), dtype=np.float64)
            if ts.size:
                out.append(({"model": name}, ts, ts * 2))
        return out

    joined = join_ranges(half(0, cut), half(cut, 10))
    assert [(labels["model"], ts.tolist(), vs.tolist()) for labels, ts, vs in joined] == [
        (name, list(range(n)), [2 * k for k in range(n)]) for name, n in whole.items() if n
    ]


def test_a_range_over_the_sample_limit_is_asked_in_halves(
    prom: Prometheus, backfilled: Backfilled, tmp_path: Path
) -> None:
    """A Prometheus held to a fraction of what one query needs (``--query.max-samples``):
    the answer is the unlimited server's, in more queries."""
    end = float(backfilled.fleet.timestamps()[-1])
    start, step = end - 86400, 300.0
    query = f"sum by (model) (rate({REQUESTS_TOTAL}[15m]))"
    whole = prom.range(query, start, end, step)
    with Prometheus(backfilled.url, stats=True) as measured:
        measured.range(query, start, end, step)
        peak = measured.timings[-1].peak_samples
    assert peak is not None and peak > 8
    tsdb = tmp_path / "tsdb"
    shutil.copytree(backfilled.tsdb, tsdb, ignore=shutil.ignore_patterns("lock"))
    held = start_tsdb_prometheus(tsdb, tmp_path, extra_args=[f"--query.max-samples={peak // 3}"])
    try:
        with Prometheus(held.url) as limited:
            sliced = limited.range(query, start, end, step)
            assert limited.queries > 3  # refused whole, then asked in smaller ranges
    finally:
        held.stop()
    assert [labels for labels, _, _ in sliced] == [labels for labels, _, _ in whole]
    for (_, ts, vs), (_, ts_whole, vs_whole) in zip(sliced, whole, strict=True):
        np.testing.assert_array_equal(ts, ts_whole)
        np.testing.assert_allclose(vs, vs_whole, rtol=1e-12)

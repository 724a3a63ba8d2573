"""A small client over the Prometheus HTTP API: instant and range queries, retention.

The audit reads usage through this class only, so every failure (unreachable, timeout, a
query Prometheus refuses, an answer that is not the API's) becomes one ``BatonError`` line
naming the server or the query, never a traceback. It counts its queries so the audit and
its benchmark can show how few it made, and it refuses a range query that would exceed
Prometheus's 11,000-points-per-series limit instead of letting the server say so. A range
query that would hold more samples at once than the server allows (``--query.max-samples``,
50 M by default: a fleet of a few thousand deployments over two weeks) is asked again in
halves, step-aligned, and the halves joined: the answer is the same, in more queries.

A range answer is decoded straight into numpy arrays (``audit.matrix``). Each call's time
is kept in ``timings``, split into the exchange (Prometheus' work, its JSON encoding, the
transfer) and the decoding here; with ``stats=True`` Prometheus also says how long it
evaluated the query (``stats=all``), so the benchmark can tell its time from the client's
whatever else runs on the machine.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import httpx
import numpy as np
import numpy.typing as npt
import orjson

from baton.audit.matrix import decode_matrix
from baton.core.durations import parse_duration
from baton.errors import BadInput, BatonError, Unavailable

Labels = dict[str, str]
FloatArray = npt.NDArray[np.float64]
InstantResult = list[tuple[Labels, float]]
RangeResult = list[tuple[Labels, FloatArray, FloatArray]]

_T = TypeVar("_T")
_QUERY_SHOWN = 80
# Prometheus error types that mean the query itself is wrong, not the server.
_BAD_QUERY = {"bad_data"}
_TOO_MANY_SAMPLES = "too many samples"  # in the error of a query over --query.max-samples


class TooManySamples(Unavailable):
    """Prometheus refused a query that would hold more samples than it allows at once."""


def parse_retention(text: str) -> float | None:
    """The time part of ``storageRetention`` ("15d", "15d or 10GiB"); None for size-only."""
    for part in text.split(" or "):
        try:
            return parse_duration(part)
        except ValueError:
            continue  # a size limit ("10GiB"), not a time
    return None


@dataclass(frozen=True)
class Runtime:
    """What the audit needs of Prometheus' runtime information."""

    retention_s: float | None  # how far back it keeps data; None when only a size is set
    cores: int | None  # GOMAXPROCS: how many queries it evaluates side by side at full speed


@dataclass(frozen=True)
class Timing:
    """Where one API call's time went."""

    query: str
    at_s: float  # when it was sent (time.perf_counter)
    exchange_s: float  # request sent -> whole answer received: Prometheus, encoding, transfer
    decode_s: float  # answer -> arrays, wall (waiting for the GIL included)
    decode_cpu_s: float  # the same, this thread's CPU time only
    size: int  # bytes of the answer
    server_s: float | None  # Prometheus' own evaluation (stats=all: execTotalTime)
    samples: int | None  # samples Prometheus read (stats=all: totalQueryableSamples)
    peak_samples: int | None  # most samples it held at once (stats=all: peakSamples)


def _shown(query: str) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= _QUERY_SHOWN else flat[: _QUERY_SHOWN - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class Prometheus:
    """The Prometheus HTTP API at ``url``; thread-safe, so queries may run side by side."""

    max_points = 11000  # Prometheus refuses range queries with more points per series

    def __init__(
        self,
        url: str,
        timeout: float = 60.0,
        *,
        transport: httpx.BaseTransport | None = None,
        stats: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.stats = stats
        self.queries = 0
        self.timings: list[Timing] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            headers={"Accept-Encoding": "identity"} if _loopback(self.url) else None,
        )

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def instant(self, query: str, time: float) -> InstantResult:
        """An instant vector at ``time``: (labels, value) per series."""
        form = {"query": query, "time": _ts(time)}
        return self._call("/api/v1/query", form, query, lambda r: self._vector(r, query))

    def _vector(self, response: httpx.Response, query: str) -> tuple[InstantResult, Any]:
        data = self._data(response, "/api/v1/query", query)
        kind = data.get("resultType")
        result = data.get("result")
        if kind == "scalar" and isinstance(result, list):
            return [({}, float(result[1]))], data
        if kind != "vector" or not isinstance(result, list):
            raise BadInput(
                f"Prometheus answered {kind!r} where a vector was expected for query "
                f"{_shown(query)!r}: wrap it in an aggregation"
            )
        return [(item["metric"], float(item["value"][1])) for item in result], data

    def range(self, query: str, start: float, end: float, step: float) -> RangeResult:
        """A range query: (labels, timestamps, values) per series, as float arrays."""
        if step <= 0 or end < start:
            raise BadInput(f"range query needs end >= start and a positive step, got step {step}")
        points = math.floor((end - start) / step) + 1
        if points > self.max_points:
            raise BadInput(
                f"range query over {end - start:.0f} s at a {step:g} s step has {points} "
                f"points, above Prometheus's limit of {self.max_points}: use a coarser step"
            )
        form = {"query": query, "start": _ts(start), "end": _ts(end), "step": f"{step:g}"}
        try:
            return self._call("/api/v1/query_range", form, query, lambda r: self._matrix(r, query))
        except TooManySamples:
            halves = split_range(start, end, step)
            if halves is None:  # one step alone is over the limit: nothing to split
                raise
        first, second = halves
        return join_ranges(self.range(query, *first, step), self.range(query, *second, step))

    def _matrix(self, response: httpx.Response, query: str) -> tuple[RangeResult, Any]:
        """Straight into arrays when the answer is laid out as Prometheus writes it."""
        if response.status_code == 200:
            fast = decode_matrix(response.content)
            if fast is not None:
                return [s for s in fast.series if s[1].size], _field(fast.rest, "data")
        data = self._data(response, "/api/v1/query_range", query)
        out: RangeResult = []
        for item in data.get("result") or []:
            values = item.get("values") or []
            if not values:
                continue
            ts = np.array([v[0] for v in values], dtype=np.float64)
            vs = np.array([float(v[1]) for v in values], dtype=np.float64)
            out.append((item["metric"], ts, vs))
        return out, data

    def retention(self) -> float | None:
        """How far back Prometheus keeps data, in seconds; None when only a size is set."""
        return self.runtime().retention_s

    def runtime(self) -> Runtime:
        """Prometheus' retention and cores, from one call to its runtime information."""
        path = "/api/v1/status/runtimeinfo"

        def decode(response: httpx.Response) -> tuple[Any, Any]:
            data = self._data(response, path, "runtime info")
            return data, data

        data = self._call(path, None, "runtime info", decode)
        retention = _field(data, "storageRetention")
        cores = _field(data, "GOMAXPROCS")
        return Runtime(
            retention_s=parse_retention(retention) if isinstance(retention, str) else None,
            cores=cores if isinstance(cores, int) and cores > 0 else None,
        )

    def _call(
        self,
        path: str,
        form: dict[str, str] | None,
        query: str,
        decode: Callable[[httpx.Response], tuple[_T, Any]],
    ) -> _T:
        """Ask, decode, and keep the call's timing."""
        if self.stats and form is not None:
            form = form | {"stats": "all"}
        began = time.perf_counter()
        response = self._api(path, form, query)
        received = time.perf_counter()
        cpu = time.thread_time()
        result, data = decode(response)
        server_s, samples, peak = _stats(data)
        timing = Timing(
            query=query,
            at_s=began,
            exchange_s=received - began,
            decode_s=time.perf_counter() - received,
            decode_cpu_s=time.thread_time() - cpu,
            size=len(response.content),
            server_s=server_s,
            samples=samples,
            peak_samples=peak,
        )
        with self._lock:
            self.timings.append(timing)
        return result

    def _api(self, path: str, form: dict[str, str] | None, query: str) -> httpx.Response:
        with self._lock:
            self.queries += 1
        try:
            if form is None:
                return self._client.get(path)
            return self._client.post(path, data=form)
        except httpx.ConnectError as exc:
            reason = _connect_reason(exc)
            raise Unavailable(
                f"Prometheus at {self.url} is unreachable ({reason}): "
                "start it or pass --prometheus URL"
            ) from None
        except httpx.TimeoutException:
            raise Unavailable(
                f"Prometheus at {self.url} did not answer within {self.timeout:g} s "
                f"for {_shown(query)!r}: shorten the window or raise the timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"Prometheus at {self.url} failed ({_one_line(type(exc).__name__)}: "
                f"{_one_line(str(exc))}): check the URL"
            ) from None

    def _data(self, response: httpx.Response, path: str, query: str) -> Any:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise BadInput(
                f"{self.url} is not a Prometheus HTTP API (HTTP {response.status_code} "
                f"for {path}): pass the Prometheus base URL, e.g. http://host:9090"
            )
        if body["status"] != "success":
            kind = _one_line(body.get("errorType") or f"HTTP {response.status_code}")
            error = _one_line(body.get("error") or "no message")
            cls: type[BatonError] = BadInput if kind in _BAD_QUERY else Unavailable
            if _TOO_MANY_SAMPLES in error:
                cls = TooManySamples
            raise cls(f"Prometheus at {self.url} refused {_shown(query)!r}: {kind}: {error}")
        return body.get("data")


def split_range(
    start: float, end: float, step: float
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Two ranges whose steps are, together, exactly the steps of ``start..end``, counted
    in whole milliseconds as Prometheus evaluates them (float seconds would drop one);
    None for a range of one step."""
    begin, stop, every = round(start * 1000), round(end * 1000), round(step * 1000)
    first = ((stop - begin) // every + 1) // 2
    if first == 0:
        return None
    middle = begin + first * every
    return (begin / 1000, (middle - every) / 1000), (middle / 1000, stop / 1000)


def join_ranges(earlier: RangeResult, later: RangeResult) -> RangeResult:
    """One answer from the answers of two consecutive ranges: a series in both has its
    points joined in time order; series keep the order they first appear in."""
    joined: dict[tuple[tuple[str, str], ...], tuple[Labels, FloatArray, FloatArray]] = {}
    for labels, ts, values in (*earlier, *later):
        key = tuple(sorted(labels.items()))
        seen = joined.get(key)
        if seen is None:
            joined[key] = (labels, ts, values)
        else:
            joined[key] = (labels, np.concatenate([seen[1], ts]), np.concatenate([seen[2], values]))
    return list(joined.values())


def _field(document: object, name: str) -> object:
    return document.get(name) if isinstance(document, dict) else None


def _stats(data: object) -> tuple[float | None, int | None, int | None]:
    """Prometheus' evaluation time, samples read and peak samples held, from
    ``stats=all``; None where absent."""
    stats = _field(data, "stats")
    seconds = _field(_field(stats, "timings"), "execTotalTime")
    samples = _field(_field(stats, "samples"), "totalQueryableSamples")
    peak = _field(_field(stats, "samples"), "peakSamples")
    return (
        float(seconds) if isinstance(seconds, int | float) else None,
        samples if isinstance(samples, int) else None,
        peak if isinstance(peak, int) else None,
    )


def _loopback(url: str) -> bool:
    """Whether ``url`` is on this machine: there, answers are asked for uncompressed.

    Prometheus gzips its answers for a client that accepts it (httpx does by default); on
    one machine that only costs CPU on both sides, the audit's range answers being about
    200 MB of JSON for 1,000 deployments (compressing them took Prometheus about a tenth
    of its time). Over a network, gzip stays: the answers shrink five to six times.
    """
    host = httpx.URL(url).host
    return host in ("localhost", "::1") or host.startswith("127.")


def _ts(value: float) -> str:
    return f"{value:.3f}"


def _connect_reason(exc: httpx.ConnectError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name" in text or "resolv" in text or "known" in text:
        return "host name not found"
    return _one_line(str(exc)) or "cannot connect"

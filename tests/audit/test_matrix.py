"""The range-answer decoder against ``json.loads``: the same series, or None and no guess."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.audit.matrix import decode_matrix
from baton.core.metric_names import MODEL_INFO
from tests.audit.conftest import Backfilled

Reference = list[tuple[dict[str, str], list[float], list[float]]]


def reference(body: bytes) -> Reference:
    """What the ordinary decoder makes of an answer: json.loads, then float() per value."""
    result = json.loads(body)["data"]["result"]
    return [
        (
            item["metric"],
            [float(t) for t, _ in item["values"]],
            [float(v) for _, v in item["values"]],
        )
        for item in result
    ]


def same(got: list[tuple[dict[str, str], Any, Any]], want: Reference) -> bool:
    def equal(a: list[float], b: list[float]) -> bool:
        return len(a) == len(b) and all(
            x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
        )

    return len(got) == len(want) and all(
        g[0] == w[0] and equal(g[1].tolist(), w[1]) and equal(g[2].tolist(), w[2])
        for g, w in zip(got, want, strict=True)
    )


def go_timestamp(ms: int) -> str:
    """A timestamp as Prometheus writes it: seconds, and milliseconds only when not zero."""
    seconds, fraction = divmod(ms, 1000)
    return f"{seconds}.{fraction:03d}" if fraction else str(seconds)


def go_float(value: float, positional: bool) -> str:
    """A value as Prometheus writes it (Go's 'f', -1: never an exponent), or as repr does."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if positional:
        return np.format_float_positional(value, unique=True, trim="-")
    return repr(value)


def prometheus_body(
    series: list[tuple[dict[str, str], list[tuple[int, float]]]],
    *,
    positional: bool = True,
    ascii_only: bool = True,
    tail: str = "",
) -> bytes:
    """A matrix answer laid out byte for byte as Prometheus 2.42 writes one."""
    items = []
    for labels, points in series:
        metric = json.dumps(labels, separators=(",", ":"), ensure_ascii=ascii_only)
        values = ",".join(f'[{go_timestamp(t)},"{go_float(v, positional)}"]' for t, v in points)
        items.append(f'{{"metric":{metric},"values":[{values}]}}')
    text = '{"status":"success","data":{"resultType":"matrix","result":[' + ",".join(items) + "]"
    return (text + tail + "}}").encode()


label_text = st.text(max_size=12) | st.sampled_from(['","values":[[', "]]}", "\\", '"'])
labels = st.dictionaries(
    st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), label_text, max_size=4
)
finite = st.floats(allow_nan=False, allow_infinity=False)
value = finite | st.just(math.nan)
points = st.lists(st.tuples(st.integers(0, 2**41), value), min_size=1, max_size=20)
matrices = st.lists(st.tuples(labels, points), max_size=6)


@settings(max_examples=300)
@given(matrices, st.booleans(), st.booleans())
def test_decoding_equals_json_loads(
    series: list[tuple[dict[str, str], list[tuple[int, float]]]], positional: bool, ascii_only: bool
) -> None:
    body = prometheus_body(series, positional=positional, ascii_only=ascii_only)
    got = decode_matrix(body)
    assert got is not None  # laid out as Prometheus writes it: never sent back
    assert same(got.series, reference(body))
    assert got.rest["status"] == "success"


@given(matrices, st.sampled_from([math.inf, -math.inf]))
def test_infinities_go_back_to_the_ordinary_decoder(
    series: list[tuple[dict[str, str], list[tuple[int, float]]]], infinite: float
) -> None:
    body = prometheus_body([*series, ({"model": "m"}, [(0, infinite)])])
    assert decode_matrix(body) is None
    assert reference(body)[-1][2] == [infinite]


def test_stats_and_warnings_after_the_result_are_kept() -> None:
    tail = ',"stats":{"timings":{"execTotalTime":0.25}}'
    body = prometheus_body([({"model": "m"}, [(1000, 2.5)])], tail=tail)
    body = body[:-1] + b',"warnings":["partial"]}'
    got = decode_matrix(body)
    assert got is not None
    assert got.rest["data"] == {
        "resultType": "matrix",
        "result": [],
        "stats": {"timings": {"execTotalTime": 0.25}},
    }
    assert got.rest["warnings"] == ["partial"]
    assert same(got.series, [({"model": "m"}, [1.0], [2.5])])


MATRIX = b'{"status":"success","data":{"resultType":"matrix","result":['


@pytest.mark.parametrize(
    "body",
    [
        b'{"status":"error","errorType":"bad_data","error":"parse error"}',
        b'{"status": "success", "data": {"resultType": "matrix", "result": []}}',  # spaced
        b'{"status":"success","data":{"resultType":"vector","result":[]}}',
        MATRIX + b'{"values":[[1,"2"]],"metric":{}}]}}',  # keys in another order
        # an empty series, then one: the cut must not run across into the next
        MATRIX + b'{"metric":{},"values":[]},{"metric":{},"values":[[1,"2"]]}]}}',
        MATRIX + b'{"metric":{},"values":[[1,"x"]]}]}}',  # not a number
        MATRIX + b'{"metric":{},"values":[[1,"2",3]]}]}}',  # not a pair
        MATRIX + b'{"metric":{},"values":[[1,"2"]]}',  # cut short
        b"<html>not Prometheus</html>",
    ],
)
def test_any_other_layout_is_sent_back(body: bytes) -> None:
    assert decode_matrix(body) is None


def test_an_empty_result() -> None:
    got = decode_matrix(b'{"status":"success","data":{"resultType":"matrix","result":[]}}')
    assert got is not None
    assert got.series == []


def test_a_real_prometheus_answer_is_taken_straight(backfilled: Backfilled) -> None:
    """Prometheus 2.42's own bytes, with its stats: the layout the decoder relies on."""
    end = float(backfilled.fleet.timestamps()[-1])
    form = {"query": MODEL_INFO, "start": str(end - 6 * 3600), "end": str(end), "step": "600"}
    form["stats"] = "all"
    body = httpx.post(f"{backfilled.url}/api/v1/query_range", data=form, timeout=30).content
    got = decode_matrix(body)
    assert got is not None
    assert len(got.series) > 5
    assert same(got.series, reference(body))
    stats = json.loads(body)["data"]["stats"]
    assert got.rest["data"]["stats"] == stats
    assert stats["timings"]["execTotalTime"] > 0

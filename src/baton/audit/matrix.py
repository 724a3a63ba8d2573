"""A Prometheus range-query answer (JSON) decoded straight into numpy arrays.

Prometheus 2.42 answers JSON only, and a range query over a fleet is large: 1,500 series
of 1,345 points are about 70 MB, four million ``[t,"v"]`` pairs. Decoded the ordinary way,
each pair is a Python list holding an int and a string, millions of containers that keep
the cyclic garbage collector busy while they are made (it walks every tracked object again
and again), and then every string is converted to a float one at a time: about 90% of the
audit's client time went there. Here each series' ``values`` part is cut out of the bytes
as it stands, the brackets and quotes are dropped, and all of them are parsed at once as
one flat JSON array of numbers: no container per point, and orjson's number parser (exact,
as Prometheus writes the shortest representation that reads back to the same double).

Only an answer laid out exactly as Prometheus writes it is taken this way; anything else
(another layout, a value orjson cannot read such as ``+Inf``) returns None and the caller
decodes it the ordinary way, so the result is always the one ``json.loads`` would give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import orjson

FloatArray = npt.NDArray[np.float64]
Labels = dict[str, str]
Series = tuple[Labels, FloatArray, FloatArray]

_PREFIX = b'{"status":"success","data":{"resultType":"matrix","result":['
_METRIC = b'{"metric":'
_VALUES = b',"values":[['
_END = b"]]}"
_NAN = b'"NaN"'
_DROP = b'[]"'
_BRACKETS = bytes.maketrans(b"()", b"[]")


@dataclass(frozen=True)
class Matrix:
    """A decoded range answer: the series, and the rest of the body (stats, warnings)."""

    series: list[Series]
    rest: dict[str, object]  # the whole answer with an empty result: status, data.stats


def decode_matrix(body: bytes) -> Matrix | None:
    """The series of a successful matrix answer, or None if ``body`` is not laid out as
    Prometheus writes one (the caller then decodes it the ordinary way)."""
    if not body.startswith(_PREFIX):
        return None
    try:
        cut = _cut(body)
        if cut is None:
            return None
        labels, spans, end = cut
        rest = orjson.loads(_PREFIX + body[end:])
        values = _numbers(body, spans)
        if values is None or not isinstance(rest, dict):
            return None
        counts = [body.count(b"],[", a, b) + 1 for a, b in spans]
        return Matrix(_split(labels, counts, values), rest)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None


def _cut(body: bytes) -> tuple[list[Labels], list[tuple[int, int]], int] | None:
    """Each series' labels (decoded) and where its ``values`` lie; where the result ends.

    A label value is a JSON string, in which every quote is escaped, so ``,"values":[[``
    cannot occur inside one: the first after ``{"metric":`` ends the labels. Values are
    numbers and quoted numbers, so the first ``]]}`` after it ends the points. A cut in
    the wrong place leaves text that is not one JSON object or not numbers: refused.
    """
    labels: list[Labels] = []
    spans: list[tuple[int, int]] = []
    pos = len(_PREFIX)
    if body[pos : pos + 1] == b"]":
        return labels, spans, pos
    while True:
        if not body.startswith(_METRIC, pos):
            return None
        mid = body.find(_VALUES, pos)
        end = body.find(_END, mid)
        if mid < 0 or end < 0:
            return None
        metric = orjson.loads(body[pos + len(_METRIC) : mid])
        if not isinstance(metric, dict):
            return None
        labels.append(metric)
        spans.append((mid + len(_VALUES), end))
        pos = end + len(_END)
        follow = body[pos : pos + 1]
        if follow == b"]":
            return labels, spans, pos
        if follow != b",":
            return None
        pos += 1


def _numbers(body: bytes, spans: list[tuple[int, int]]) -> FloatArray | None:
    """Every span's ``t,"v"`` pairs as one flat float array; None if one is not a number.

    The spans are joined into ``(t,"v"],[t,"v",...)`` (one copy, from views of the body),
    and one translation drops the quotes and inner brackets and turns the parentheses into
    the array's brackets. ``"NaN"`` becomes JSON null (NaN in a float64 array); ±Inf, which
    orjson refuses, sends the answer back to the ordinary decoder.
    """
    if not spans:
        return np.empty(0, dtype=np.float64)
    view = memoryview(body)
    parts: list[bytes | memoryview] = [b"("]
    for a, b in spans:
        parts += [view[a:b], b","]
    parts[-1] = b")"
    joined = b"".join(parts)
    if b"Inf" in joined:
        return None
    if _NAN in joined:
        joined = joined.replace(_NAN, b"null")
    parsed = orjson.loads(joined.translate(_BRACKETS, _DROP))
    if not isinstance(parsed, list):
        return None
    return np.array(parsed, dtype=np.float64)


def _split(labels: list[Labels], counts: list[int], values: FloatArray) -> list[Series]:
    """The flat array cut back into (labels, timestamps, values) per series."""
    if 2 * sum(counts) != values.size:
        raise ValueError("a point is not a [time, value] pair")
    pairs = values.reshape(-1, 2)
    out: list[Series] = []
    start = 0
    for metric, count in zip(labels, counts, strict=True):
        block = pairs[start : start + count]
        out.append((metric, np.ascontiguousarray(block[:, 0]), np.ascontiguousarray(block[:, 1])))
        start += count
    return out

"""Fuzz the manifest loader: whatever a user writes into baton.yaml, baton answers with a
``Manifest`` or one line of BadInput (exit 2), never an internal error (exit 3).

Four sources of input: raw bytes, arbitrary text, text stitched from YAML's own syntax
(anchors, tags, flow and block collections, special floats, timestamps), and a valid
manifest with hostile values put at random places.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.core.manifest import Manifest, parse_manifest
from baton.errors import BadInput
from baton.handover.bundle import manifest_from_text, read_manifest
from baton.yaml_files import YamlLimits
from tests.core.test_manifest import GOOD

SMALL = YamlLimits(max_bytes=4096, max_depth=8, max_nodes=300, max_string=200, settings="X_")


def read_or_refuse(text: str, limits: YamlLimits | None = None) -> Manifest | None:
    """The property: a Manifest that survives its own JSON round trip, or one short line."""
    try:
        manifest = manifest_from_text(text, "baton.yaml", limits or YamlLimits())
    except BadInput as exc:
        assert_one_line(exc)
        return None
    assert parse_manifest(manifest.to_json_dict()) == manifest  # what is stored reads back
    return manifest


def assert_one_line(refused: BadInput) -> None:
    assert len(refused.message.splitlines()) == 1, refused.message[:300]
    assert len(refused.message) < 1500, refused.message[:300]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_any_bytes_in_the_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "baton.yaml"
    path.write_bytes(data)
    try:
        read_manifest(path, SMALL)
    except BadInput as exc:
        assert_one_line(exc)


@given(st.text(max_size=500))
def test_any_text(text: str) -> None:
    read_or_refuse(text)


PIECES = [
    *("name: ", "owner: ", "model: ", "signature: ", "inputs: ", "eval: ", "claimed: "),
    *("slo: ", "lineage: ", "labels: ", "version: ", "description: ", "shape: ", "dtype: "),
    *("toy", "research", "model.onnx", "float32", "-1", "0", "1e999", "-.inf", ".nan", "~"),
    *("2026-13-45", "2001-02-30 10:00:00", "0x1F", "0o17", "1_000", "99999999999999999999"),
    *("{", "}", "[", "]", ", ", ": ", "- ", "? ", "\n", "\n  ", "\n    ", "'", '"', "# c"),
    *("&a ", "*a", "&b ", "*b", "<<: *a", "!!int ", "!!float ", "!!bool ", "!!str ", "!!set "),
    *("!!timestamp ", "!!binary ", "!!omap ", "!!python/object:os.system ", "!custom ", "|\n  "),
    *(">-\n  ", "---\n", "...\n", "%YAML 1.1\n", "\t", "\ufeff", "\x00", "\\u0000", "é"),
]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_text_stitched_from_yaml_syntax(pieces: list[str]) -> None:
    text = "".join(pieces)
    read_or_refuse(text)
    read_or_refuse(text, SMALL)


HOSTILE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0])
    | st.text(max_size=30)
    | st.sampled_from(["x" * 300, "/etc/shadow", "../eval.npz", "eval.npz", "float32", "-1"])
    | st.binary(max_size=8)
    | st.dates()
    | st.datetimes(timezones=st.just(dt.UTC)),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=12,
)

PATHS = [
    ("name",), ("version",), ("owner",), ("task",), ("model",), ("labels",), ("labels", 0),
    ("signature",), ("signature", "inputs"), ("signature", "inputs", 0, "name"),
    ("signature", "inputs", 0, "shape"), ("signature", "inputs", 0, "shape", 1),
    ("signature", "inputs", 0, "dtype"), ("signature", "outputs", 0, "shape"),
    ("eval",), ("eval", "data"), ("eval", "target"), ("eval", "claimed"),
    ("eval", "claimed", "accuracy"), ("eval", "tolerance"), ("slo",), ("slo", "p99_latency_ms"),
    ("slo", "max_error_rate"), ("lineage",), ("lineage", "git_commit"), ("contacts",),
    ("description",), ("extra",),
]  # fmt: skip


def put(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(PATHS), HOSTILE), min_size=1, max_size=3))
def test_a_valid_manifest_with_hostile_values(changes: list[tuple[Any, Any]]) -> None:
    data = copy.deepcopy(GOOD)
    for path, value in changes:
        try:
            put(data, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced the parent
    read_or_refuse(yaml.dump(data, allow_unicode=True))


def test_the_good_manifest_reads() -> None:
    assert read_or_refuse(yaml.safe_dump(GOOD)) is not None

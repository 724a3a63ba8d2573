from __future__ import annotations

import copy
from typing import Any

import pytest

from baton.core.manifest import Manifest, Task, manifest_json_schema, parse_manifest
from baton.errors import BadInput

GOOD: dict[str, Any] = {
    "name": "digits-classifier",
    "version": "2026.11.3",
    "owner": "research-vision",
    "task": "classification",
    "model": "model.onnx",
    "signature": {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 10]}],
    },
    "labels": list(range(10)),
    "eval": {"data": "eval.npz", "claimed": {"accuracy": 0.96}, "tolerance": 0.01},
    "slo": {"p99_latency_ms": 20, "min_throughput_rps": 500},
    "lineage": {"git_commit": 1234567, "training_data": "digits"},
}


def changed(**updates: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    for dotted, value in updates.items():
        *path, last = dotted.split("__")
        node = data
        for key in path:
            node = node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return data


def test_design_example_parses() -> None:
    m = parse_manifest(GOOD)
    assert m.task is Task.CLASSIFICATION
    assert m.labels == [str(i) for i in range(10)]
    assert m.lineage["git_commit"] == "1234567"  # YAML reads bare digits as an int
    assert m.eval is not None and m.eval.target == "label"
    assert m.slo is not None and m.slo.p99_latency_ms == 20


def test_numeric_version_label_becomes_text() -> None:
    assert parse_manifest(changed(version=1.0)).version == "1.0"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (changed(owner=...), "owner: required field is missing"),
        (changed(ownr="x"), "ownr: unknown field"),
        (changed(name="Digits Classifier"), "name: String should match pattern"),
        (changed(task="detection"), "task: Input should be 'classification'"),
        (changed(signature__inputs=[]), "signature.inputs: Tuple should have at least 1 item"),
        (
            changed(signature__inputs=[{"name": "x", "dtype": "float", "shape": [1]}]),
            "signature.inputs.0.dtype",
        ),
        (changed(eval__data="eval.xlsx"), "eval.data: eval data must be one of"),
        (changed(eval__tolerance=-1), "eval.tolerance: Input should be greater than or equal to 0"),
        (changed(slo__p99_latency_ms=0), "slo.p99_latency_ms: Input should be greater than 0"),
        (changed(labels=["a", "b"]), "2 labels but output 'probabilities' has 10 classes"),
        (changed(labels=["a"] * 10), "labels repeat a name"),
        (changed(task="regression"), "labels are only for task: classification"),
        (
            changed(eval__claimed={"accuracy": float("nan")}),
            "eval.claimed.accuracy: Input should be a finite",
        ),
        (changed(eval__claimed={"f1": float("-inf")}), "eval.claimed.f1: Input should be a finite"),
        (changed(eval__claimed={"f1": "NaN"}), "eval.claimed.f1: Input should be a finite"),
        (changed(eval__tolerance=float("nan")), "eval.tolerance: Input should be a finite"),
        (changed(slo__p99_latency_ms=float("inf")), "slo.p99_latency_ms: Input should be a finite"),
        (changed(slo__min_throughput_rps=float("inf")), "slo.min_throughput_rps: Input should be"),
        (changed(slo__max_error_rate=float("nan")), "slo.max_error_rate: Input should be a finite"),
    ],
)
def test_errors_name_the_field_and_what_is_expected(data: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput, match="^baton.yaml: ") as info:
        parse_manifest(data)
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_not_a_mapping() -> None:
    with pytest.raises(BadInput, match="expected a mapping"):
        parse_manifest(["name", "owner"])


def test_many_errors_are_summarised() -> None:
    with pytest.raises(BadInput, match="and 2 more"):
        parse_manifest({"x": 1})


def test_json_schema_is_published_and_describes_every_field() -> None:
    schema = manifest_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(Manifest.model_fields) == set(schema["properties"])
    assert {"name", "owner", "model", "signature"} <= set(schema["required"])
    assert schema["additionalProperties"] is False


def test_json_round_trip() -> None:
    m = parse_manifest(GOOD)
    assert parse_manifest(m.to_json_dict()) == m


def test_a_long_value_or_strange_key_still_makes_one_short_line() -> None:
    with pytest.raises(BadInput) as info:
        parse_manifest(changed(name="x" * 100_000, signature={"\r\n" + "k" * 500: 1}))
    message = info.value.message
    assert len(message.splitlines()) == 1 and len(message) < 600
    assert "(got 'xxxx" in message and "...)" in message

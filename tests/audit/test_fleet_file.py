"""fleet.yaml: human units in, Deployments out; every mistake one line naming entry and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from baton.audit.fleet_file import fleet_entry, fleet_json_schema, parse_fleet, read_fleet
from baton.core.inventory import CapacityOption, check_unique
from baton.errors import BadInput
from testkit.synthetic import SyntheticFleet
from tests.audit.verdict_fleet import SPECS, deployments
from tests.baton_cli import baton, clean_env

EXAMPLE = Path(__file__).parents[2] / "examples" / "fleet" / "fleet.yaml"
GI = 1024**3


def entry(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "digits-prod",
        "model": "digits",
        "version": 3,
        "replicas": 2,
        "resources": {"cores": "500m", "memory": "2Gi"},
    }
    base.update(extra)
    return base


def one(**extra: Any) -> dict[str, Any]:
    return {"deployments": [entry(**extra)]}


def test_the_example_reads_and_is_unique() -> None:
    found = read_fleet(EXAMPLE)
    assert [d.name for d in found] == ["churn-prod", "reviews-sentiment", "image-tagger-gpu"]
    check_unique(found)
    digits, reviews, gpu = found
    assert digits.source == "fleet"
    assert digits.version == "3"
    assert digits.resources.cores == 2
    assert digits.resources.memory_limit_bytes == 3 * GI
    assert digits.serving.workers == 2
    assert digits.instances == ("10.0.3.7:8000", "10.0.3.8:8000")
    assert digits.slo_p99_ms == 20
    assert not digits.autoscaled
    assert reviews.autoscaled
    assert (reviews.replicas, reviews.min_replicas, reviews.max_replicas) == (2, 2, 10)
    assert reviews.resources.cores == 1.5
    assert reviews.capacity[1] == CapacityOption(
        hardware="nvidia-t4", cores=4, memory_bytes=16 * GI, gpus=1, rps_at_slo=5200
    )
    assert (gpu.resources.gpus, gpu.resources.hardware) == (1, "nvidia-t4")
    assert gpu.origin == f"{EXAMPLE}: deployments[2]"


def test_human_units_become_cores_and_bytes() -> None:
    (d,) = parse_fleet(
        one(resources={"cores": 1, "memory": "512Mi", "cpu_limit": "1500m", "memory_limit": 1e9})
    )
    assert d.resources.cores == 1.0
    assert d.resources.memory_bytes == 512 * 1024**2
    assert d.resources.cpu_limit == 1.5
    assert d.resources.memory_limit_bytes == 1e9


def test_autoscaling_without_replicas_starts_at_the_minimum() -> None:
    data = one(autoscaling={"min": 3, "max": 6})
    del data["deployments"][0]["replicas"]
    (d,) = parse_fleet(data)
    assert (d.replicas, d.min_replicas, d.max_replicas) == (3, 3, 6)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"resources": {"cores": 1, "memory": "2GB"}},
            "fleet.yaml: deployments[0] (digits-prod).resources.memory: '2GB' is not a quantity: "
            "write bytes or 512Mi, 2Gi",
        ),
        (
            {"resources": {"cores": "two", "memory": "1Gi"}},
            "fleet.yaml: deployments[0] (digits-prod).resources.cores: 'two' is not a quantity: "
            "write cores (2, 0.5) or millicores (500m)",
        ),
        (
            {"replicas": None},
            "fleet.yaml: deployments[0] (digits-prod): give replicas, or autoscaling",
        ),
        (
            {"autoscaling": {"min": 5, "max": 2}},
            "fleet.yaml: deployments[0] (digits-prod).autoscaling: min 5 is above max 2",
        ),
        (
            {"replicas": -1},
            "fleet.yaml: deployments[0] (digits-prod).replicas: Input should be greater than or "
            "equal to 0 (got -1)",
        ),
        (
            {"cpus": 2},
            "fleet.yaml: deployments[0] (digits-prod).cpus: unknown field (check its spelling; "
            "`baton schema fleet` lists the fields)",
        ),
        (
            {"capacity": [{"rps_at_slo": 10}, {"rps_at_slo": 0}]},
            "fleet.yaml: deployments[0] (digits-prod).capacity[1].rps_at_slo: Input should be "
            "greater than 0 (got 0)",
        ),
        (
            {"serving": {"precision": "fp16"}},
            "fleet.yaml: deployments[0] (digits-prod).serving.precision: Input should be 'fp32' "
            "or 'int8' (got 'fp16')",
        ),
        (
            {"resources": {"cores": float("inf"), "memory": "1Gi"}},
            "fleet.yaml: deployments[0] (digits-prod).resources.cores: inf is not a finite",
        ),
        (
            {"resources": {"cores": 1}},
            "fleet.yaml: deployments[0] (digits-prod).resources.memory: required field is missing",
        ),
    ],
)
def test_mistakes_are_one_line_naming_entry_and_field(
    change: dict[str, Any], expected: str
) -> None:
    data = {"deployments": [entry(**change)]}
    with pytest.raises(BadInput) as info:
        parse_fleet(data)
    assert info.value.message.startswith(expected), info.value.message
    assert "\n" not in info.value.message


def test_the_entry_index_counts_from_zero_and_a_nameless_entry_is_still_placed() -> None:
    second = entry(name="other", version=4)
    del second["model"]
    with pytest.raises(BadInput, match=r"deployments\[1\] \(other\)\.model: required field"):
        parse_fleet({"deployments": [entry(), second]})
    with pytest.raises(BadInput, match=r"^fleet.yaml: deployments\[0\]: expected a mapping"):
        parse_fleet({"deployments": ["digits"]})
    with pytest.raises(BadInput, match=r"^fleet.yaml: deployments\[0\]\.name: required"):
        parse_fleet({"deployments": [{"model": "m"}]})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, "expected a mapping with a `deployments:` list"),
        ([1, 2], "expected a mapping with a `deployments:` list"),
        ({"deployments": []}, "deployments: expected a non-empty list"),
        ({"deployments": {"a": 1}}, "deployments: expected a non-empty list"),
        ({"deployments": [entry()], "extra": 1}, "extra: unknown field"),
    ],
)
def test_the_top_level_shape_is_checked(data: Any, expected: str) -> None:
    with pytest.raises(BadInput, match=expected):
        parse_fleet(data)


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("deployments:\n  - name: a\n    model: [unclosed\n")
    with pytest.raises(BadInput, match=r"fleet.yaml: not valid YAML at line 4, column 1"):
        read_fleet(path)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such fleet file; pass --fleet"):
        read_fleet(tmp_path / "nope.yaml")


def test_the_errors_name_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "teams" / "fleet.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(one(replicas="many")))
    with pytest.raises(BadInput, match=rf"^{path}: deployments\[0\] \(digits-prod\)\.replicas"):
        read_fleet(path)


@given(
    cores=st.integers(min_value=1, max_value=64_000),
    mib=st.integers(min_value=1, max_value=1 << 20),
    replicas=st.integers(min_value=0, max_value=500),
)
def test_any_valid_entry_round_trips_its_quantities(cores: int, mib: int, replicas: int) -> None:
    (d,) = parse_fleet(
        one(replicas=replicas, resources={"cores": f"{cores}m", "memory": f"{mib}Mi"})
    )
    assert d.resources.cores == pytest.approx(cores / 1000)
    assert d.resources.memory_bytes == mib * 1024**2
    assert d.replicas == replicas


def test_the_published_schema_describes_the_file() -> None:
    schema = fleet_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["required"] == ["deployments"]
    fields = schema["$defs"]["FleetEntry"]["properties"]
    assert {"name", "model", "version", "replicas", "autoscaling", "resources"} <= set(fields)
    assert schema["$defs"]["FleetEntry"]["additionalProperties"] is False


def test_baton_schema_fleet_prints_it(tmp_path: Path) -> None:
    result = baton(clean_env(tmp_path), "schema", "fleet")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == fleet_json_schema()


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = ["name", "model", "version", "replicas", "autoscaling", "resources", "capacity"]


@given(st.dictionaries(st.sampled_from(FIELDS), JSONISH, max_size=4))
@example({"name": "\n", "model": None})  # found by Hypothesis: the name broke the line
# the first text drawn in a fresh checkout builds Hypothesis's Unicode table (seconds)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_entry_is_read_or_refused_in_one_line(change: dict[str, Any]) -> None:
    message = ""
    try:
        parse_fleet({"deployments": [entry(**change)]})
    except BadInput as exc:
        message = exc.message
    assert "\n" not in message


def test_fleet_entry_reads_back_as_the_deployment() -> None:
    originals = deployments(SyntheticFleet(SPECS, end=1.8e9, days=1))
    read = parse_fleet({"deployments": [fleet_entry(d) for d in originals]})
    for before, after in zip(originals, read, strict=True):
        assert after.model_copy(update={"origin": "", "source": before.source}) == (
            before.model_copy(update={"origin": ""})
        )

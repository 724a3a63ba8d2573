"""Kubernetes quantities, the Deployment shape and the uniqueness check of the inventory."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from baton.core.inventory import (
    CapacityOption,
    Deployment,
    Resources,
    check_unique,
    hardware_name,
    parse_cpu,
    parse_memory,
)

BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5}
DECIMAL = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


@given(st.integers(min_value=0, max_value=10**9))
def test_millicores_are_thousandths_of_a_core(n: int) -> None:
    assert math.isclose(parse_cpu(f"{n}m"), n / 1000)


@given(st.integers(min_value=0, max_value=10**6))
def test_whole_cores_read_the_same_as_text_or_number(n: int) -> None:
    assert parse_cpu(str(n)) == parse_cpu(n) == float(n)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_fractional_cores_round_trip(cores: float) -> None:
    text = f"{cores:.6f}"
    assert math.isclose(parse_cpu(text), float(text))
    assert parse_cpu(cores) == cores


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(BINARY)))
def test_binary_suffixes_are_powers_of_1024(n: int, unit: str) -> None:
    assert parse_memory(f"{n}{unit}") == n * BINARY[unit]


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(DECIMAL)))
def test_decimal_suffixes_are_powers_of_1000(n: int, unit: str) -> None:
    assert math.isclose(parse_memory(f"{n}{unit}"), n * DECIMAL[unit])


@given(st.integers(min_value=0, max_value=2**50))
def test_plain_bytes_read_the_same_as_text_or_number(n: int) -> None:
    assert parse_memory(str(n)) == parse_memory(n) == float(n)


def test_examples_from_kubernetes_manifests() -> None:
    assert parse_cpu("500m") == 0.5
    assert parse_cpu(" 1.5 ") == 1.5
    assert parse_memory("2Gi") == 2 * 1024**3
    assert parse_memory("512Mi") == 512 * 1024**2
    assert parse_memory("1G") == 1e9
    assert parse_memory("129e6") == 129e6


@pytest.mark.parametrize("bad", ["", "two", "1.5.0", "-1", "500 m", "1Gi", "m", "0x10"])
def test_bad_cpu_is_a_value_error_saying_how_to_write_it(bad: str) -> None:
    with pytest.raises(ValueError, match="millicores"):
        parse_cpu(bad)


@pytest.mark.parametrize("bad", ["", "2GB", "2gi", "lots", "-5Mi", "1.2.3Gi", "Gi"])
def test_bad_memory_is_a_value_error_saying_how_to_write_it(bad: str) -> None:
    with pytest.raises(ValueError, match="512Mi, 2Gi"):
        parse_memory(bad)


@pytest.mark.parametrize("parse", [parse_cpu, parse_memory])
def test_negative_numbers_and_booleans_are_refused(parse: Callable[[str | float], float]) -> None:
    with pytest.raises(ValueError, match="negative"):
        parse(-1)
    with pytest.raises(ValueError, match="not a quantity"):
        parse(True)


@pytest.mark.parametrize("parse", [parse_cpu, parse_memory])
@given(text=st.text(max_size=12))
def test_parsers_never_fail_other_than_value_error(
    parse: Callable[[str], float], text: str
) -> None:
    try:
        value: float | None = parse(text)
        message = ""
    except ValueError as exc:
        value, message = None, str(exc)
    assert value is None or value >= 0
    assert "\n" not in message


def deployment(
    name: str = "d", model: str = "m", version: str = "1", **extra: object
) -> Deployment:
    fields: dict[str, object] = {
        "name": name,
        "model": model,
        "version": version,
        "replicas": 2,
        "resources": Resources(cores=1, memory_bytes=2**30),
        "origin": f"test:{name}",
    }
    fields.update(extra)
    return Deployment.model_validate(fields)


def test_integer_versions_become_text() -> None:
    assert deployment(version=3).version == "3"  # type: ignore[arg-type]
    assert deployment().key == ("m", "1")


def test_replica_bounds_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="min_replicas 5 is above max_replicas 2"):
        deployment(min_replicas=5, max_replicas=2)


def test_autoscaled_when_the_bounds_differ() -> None:
    assert not deployment().autoscaled
    assert not deployment(min_replicas=2, max_replicas=2).autoscaled
    assert deployment(min_replicas=1, max_replicas=4).autoscaled
    assert deployment(max_replicas=5).autoscaled  # lower bound defaults to the replicas


@pytest.mark.parametrize(
    "extra",
    [
        {"replicas": -1},
        {"name": ""},
        {"surprise": 1},
        {"resources": {"cores": -1, "memory_bytes": 0}},
        {"capacity": [{"rps_at_slo": 0}]},
        {"serving": {"precision": "fp16"}},
    ],
)
def test_invalid_deployments_are_refused(extra: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        deployment(**extra)


def test_capacity_options_keep_their_order() -> None:
    d = deployment(
        capacity=[{"rps_at_slo": 100}, {"hardware": "nvidia-t4", "gpus": 1, "rps_at_slo": 900}]
    )
    assert d.capacity == (
        CapacityOption(rps_at_slo=100),
        CapacityOption(hardware="nvidia-t4", gpus=1, rps_at_slo=900),
    )


def test_unique_deployments_pass() -> None:
    """Two versions of one model under two names pass; adding either name or either version
    again is refused, so the check did look at these very deployments."""
    unique = [deployment("a", version="1"), deployment("b", version="2")]
    check_unique(unique)
    check_unique([])
    for again in (deployment("a", version="3"), deployment("c", version="2")):
        with pytest.raises(ValueError, match=r"named 'a'|both serve m version 2"):
            check_unique([*unique, again])


def test_two_deployments_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match=r"two deployments are named 'a' \(test:a and test:a\)"):
        check_unique([deployment("a", version="1"), deployment("a", version="2")])


def test_two_deployments_of_one_version_are_refused() -> None:
    with pytest.raises(ValueError, match="both serve m version 1: Prometheus cannot tell"):
        check_unique([deployment("a"), deployment("b")])


@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("12")), max_size=6))
def test_check_unique_refuses_exactly_the_duplicates(pairs: list[tuple[str, str]]) -> None:
    items = [deployment(f"{m}{v}-{i}", model=m, version=v) for i, (m, v) in enumerate(pairs)]
    duplicated = len(set(pairs)) < len(pairs)
    if duplicated:
        with pytest.raises(ValueError, match="both serve"):
            check_unique(items)
    else:
        check_unique(items)


def test_hardware_names() -> None:
    assert hardware_name("NVIDIA-H100-80GB-HBM3") == "nvidia-h100"
    assert hardware_name("nvidia-tesla-a100") == "nvidia-a100-40gb"
    assert hardware_name("NVIDIA-A10G") == "nvidia-a10g"
    assert hardware_name("mystery-9000") == "nvidia-mystery-9000"
    # NVML's device names, as a baton serve on a GPU host records them
    assert hardware_name("Tesla T4") == "nvidia-t4"
    assert hardware_name("NVIDIA A100-SXM4-80GB") == "nvidia-a100-80gb"
    assert hardware_name("NVIDIA L4") == "nvidia-l4"

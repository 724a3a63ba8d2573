"""The price table: schema, one-line errors, and cost that behaves like money."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.audit.prices import (
    DEFAULT_PRICES,
    PriceTable,
    default_prices,
    load_prices,
    parse_prices,
)
from baton.core.pricing import GIB, HOURS_PER_MONTH
from baton.core.rightsizing import recommend
from baton.core.sizing import Allocation, Capacity, ObservedUsage
from baton.errors import BadInput

EXAMPLE = Path(__file__).parents[2] / "examples" / "prices.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_marked_as_examples_and_match_the_example_file() -> None:
    table = default_prices()
    assert table.example is True
    assert table.to_report()["source"] == "built-in example prices"
    assert load_prices(None) == table
    from_file = load_prices(EXAMPLE)
    assert from_file.to_report() | {"source": ""} == table.to_report() | {"source": ""}
    assert from_file.to_report()["source"] == str(EXAMPLE)
    assert set(DEFAULT_PRICES["hardware"]) >= {"nvidia-t4", "nvidia-l4", "nvidia-h100"}


def test_a_file_prices_cores_memory_and_gpus_per_hardware(tmp_path: Path) -> None:
    table = load_prices(
        write(
            tmp_path,
            "currency: EUR\ncpu: {core_hour: 0.02, gib_hour: 0.002}\n"
            "hardware:\n  nvidia-t4: {gpu_hour: 0.5}\n"
            "  big-gpu: {gpu_hour: 4, core_hour: 0.05, gib_hour: 0.01}\n",
        )
    )
    assert table.example is False and table.currency == "EUR"
    assert table.hourly(2, 4 * GIB, 0, "cpu") == pytest.approx(2 * 0.02 + 4 * 0.002)
    assert table.hourly(2, 4 * GIB, 1, "nvidia-t4") == pytest.approx(0.04 + 0.008 + 0.5)
    assert table.hourly(2, 4 * GIB, 2, "big-gpu") == pytest.approx(0.1 + 0.04 + 8)
    assert table.monthly(3, 2, 4 * GIB, 0, "cpu") == pytest.approx(3 * 0.048 * HOURS_PER_MONTH)
    assert table.unknown(["cpu", "nvidia-t4", "nvidia-h100", "nvidia-h100"]) == ["nvidia-h100"]
    assert table.to_report() == {
        "currency": "EUR",
        "example": False,
        "cpu": {"core_hour": 0.02, "gib_hour": 0.002},
        "hardware": {
            "nvidia-t4": {"gpu_hour": 0.5, "core_hour": None, "gib_hour": None},
            "big-gpu": {"gpu_hour": 4.0, "core_hour": 0.05, "gib_hour": 0.01},
        },
        "source": str(tmp_path / "prices.yaml"),
    }


def test_recommend_reads_the_per_hardware_prices_through_to_sizing() -> None:
    table = parse_prices(
        {
            "cpu": {"core_hour": 0.01, "gib_hour": 0.0},
            "hardware": {"g": {"gpu_hour": 1.0, "core_hour": 0.1}},
        }
    )
    rec = recommend(
        ObservedUsage(rps_mean=50, rps_peak=100, p99_latency_ms=5),
        Allocation(replicas=2, cores=4, memory_bytes=0, gpus=1, hardware="g"),
        Capacity(saturation_rps=1000, cores=4, gpus=1, hardware="g"),
        slo_p99_ms=20,
        prices=table.to_sizing(),
    )
    assert rec.monthly_cost_now == pytest.approx(2 * (4 * 0.1 + 1.0) * HOURS_PER_MONTH)
    assert rec.monthly_cost_now == pytest.approx(table.monthly(2, 4, 0, 1, "g"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cpu: {core_hour: 0.02, gib_hour: -1}\n", "cpu.gib_hour: Input should be greater"),
        ("cpu: {core_hour: 0.02}\n", "cpu.gib_hour: required field is missing"),
        ("hardware: {}\n", "cpu: required field is missing"),
        (
            "cpu: {core_hour: 0.02, gib_hour: 0.002}\nhardware:\n  t4: {gpu_hours: 1}\n",
            "hardware.t4.gpu_hours: unknown field (check its spelling)",
        ),
        (
            "cpu: {core_hour: 0.02, gib_hour: 0.002}\nhardware:\n  t4: {gpu_hour: -0.3}\n",
            "hardware.t4.gpu_hour: Input should be greater than or equal to 0 (got -0.3)",
        ),
        ("cpu: {core_hour: .nan, gib_hour: 0.002}\n", "cpu.core_hour: Input should be a finite"),
        ("cpu: {core_hour: twelve, gib_hour: 0}\n", "cpu.core_hour: Input should be a valid"),
        ("cpu: {core_hour: 1, gib_hour: 0}\nsource: x\n", "source: unknown field"),
        ("- 1\n- 2\n", "expected a mapping"),
        ("", "expected a mapping"),
        ("cpu: {core_hour: 1, gib_hour: 0\nhardware: 3\n", "not valid YAML at line 2, column"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as caught:
        load_prices(path)
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "baton schema manifest" not in message


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"no such price file"):
        load_prices(tmp_path / "nope.yaml")


prices = st.floats(min_value=0, max_value=100, allow_nan=False)
amounts = st.floats(min_value=0, max_value=1000, allow_nan=False)


@st.composite
def tables(draw: st.DrawFn) -> PriceTable:
    return parse_prices(
        {
            "cpu": {"core_hour": draw(prices), "gib_hour": draw(prices)},
            "hardware": {"g": {"gpu_hour": draw(prices)}},
        }
    )


@given(
    tables(),
    st.integers(0, 500),
    amounts,
    amounts,
    st.integers(0, 8),
    st.sampled_from(["cpu", "g"]),
)
def test_cost_is_linear_in_replicas(
    table: PriceTable, replicas: int, cores: float, gib: float, gpus: int, hardware: str
) -> None:
    sizing = table.to_sizing()
    one = sizing.monthly(1, cores, gib * GIB, gpus, hardware)
    assert sizing.monthly(replicas, cores, gib * GIB, gpus, hardware) == pytest.approx(
        replicas * one, rel=1e-9, abs=1e-9
    )
    assert sizing.monthly(0, cores, gib * GIB, gpus, hardware) == 0


@given(
    tables(),
    st.sampled_from(["core_hour", "gib_hour", "gpu_hour"]),
    st.floats(min_value=0, max_value=100, allow_nan=False),
    st.integers(1, 50),
    amounts,
    amounts,
    st.integers(0, 8),
)
def test_cost_never_falls_when_a_price_rises(
    table: PriceTable, which: str, rise: float, replicas: int, cores: float, gib: float, gpus: int
) -> None:
    data = table.to_report()
    data.pop("source")
    if which == "gpu_hour":
        data["hardware"]["g"]["gpu_hour"] += rise
    else:
        data["cpu"][which] += rise
    dearer = parse_prices(data)
    for hardware in ("cpu", "g"):
        before = table.to_sizing().monthly(replicas, cores, gib * GIB, gpus, hardware)
        after = dearer.to_sizing().monthly(replicas, cores, gib * GIB, gpus, hardware)
        assert after >= before

from __future__ import annotations

import pytest
from pydantic import ValidationError

from baton.core.serving_config import ServingConfig


def test_defaults_are_a_single_core_cpu_replica() -> None:
    config = ServingConfig()
    assert (config.provider, config.cores, config.gpus, config.precision) == (
        "CPUExecutionProvider",
        1,
        0,
        "fp32",
    )
    assert config.throughput_per_core is None


def test_round_trip_through_json_as_stored() -> None:
    config = ServingConfig(
        max_batch_size=16, cores=2, throughput_rps=5000.0, precision="int8", model_sha256="a" * 64
    )
    assert ServingConfig.model_validate(config.model_dump(mode="json")) == config
    assert config.throughput_per_core == 2500.0


@pytest.mark.parametrize(
    "bad", [{"max_batch_size": 0}, {"precision": "fp8"}, {"model_sha256": "xyz"}, {"batch": 4}]
)
def test_invalid_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ServingConfig.model_validate(bad)

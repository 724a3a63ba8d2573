"""The profile and the server open the same ONNX Runtime session for every configuration."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
import pytest

from baton.core.serving_config import ServingConfig
from baton.errors import Unavailable
from baton.evaluate.runner import ModelCrashed
from baton.evaluate.runner import open_session as profile_session
from baton.runtime.mlp import random_mlp
from baton.runtime.session import CPU, OPTIMIZATION_LEVELS, providers_for
from baton.serve.loader import model_session as server_session

# Every SessionOptions field a session can differ in (methods and setters excluded).
FIELDS = (
    "intra_op_num_threads",
    "inter_op_num_threads",
    "graph_optimization_level",
    "log_severity_level",
    "log_verbosity_level",
    "execution_mode",
    "execution_order",
    "enable_cpu_mem_arena",
    "enable_mem_pattern",
    "enable_mem_reuse",
    "enable_profiling",
    "use_deterministic_compute",
    "use_per_session_threads",
    "optimized_model_filepath",
    "profile_file_prefix",
    "logid",
)
MISSING = "CUDAExecutionProvider"  # a GPU provider: absent from the CPU build tests run on
CONFIGS = [
    ServingConfig(
        provider=provider,
        intra_op_threads=intra,
        inter_op_threads=inter,
        graph_optimization=level,  # type: ignore[arg-type]
        precision=precision,  # type: ignore[arg-type]
    )
    for provider, intra, inter, level, precision in itertools.product(
        (CPU, MISSING, "TensorrtExecutionProvider"),
        (1, 3),
        (1, 2),
        tuple(OPTIMIZATION_LEVELS),
        ("fp32", "int8"),
    )
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("session") / "model.onnx"
    onnx.save(random_mlp([4, 8, 3]), str(path))
    return path


def options_of(session: Any) -> dict[str, object]:
    options = session.get_session_options()
    return {name: getattr(options, name) for name in FIELDS}


def test_every_field_of_the_options_is_compared() -> None:
    """A field ONNX Runtime adds to SessionOptions must join FIELDS, or the test below
    would stop comparing everything."""
    fields = {
        name
        for name in dir(ort.SessionOptions())
        if not name.startswith("_") and not callable(getattr(ort.SessionOptions(), name))
    }
    assert fields == set(FIELDS)


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(map(str, c.model_dump().values()))[:60]
)
def test_profile_and_server_get_identical_sessions(model: Path, config: ServingConfig) -> None:
    profiled, served = profile_session(model, config), server_session(model, config)
    assert options_of(profiled) == options_of(served)
    assert profiled.get_providers() == served.get_providers()
    options = options_of(served)
    assert options["intra_op_num_threads"] == config.intra_op_threads
    assert options["inter_op_num_threads"] == config.inter_op_threads
    level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[config.graph_optimization])
    assert options["graph_optimization_level"] == level
    assert served.get_providers()[-1] == CPU  # the fallback for what a GPU provider lacks


def test_a_missing_provider_falls_back_to_the_cpu_and_says_so(
    model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert providers_for(ServingConfig(provider=MISSING), [CPU]) == ([CPU], True)
    assert providers_for(ServingConfig(provider=MISSING), [MISSING, CPU]) == ([MISSING, CPU], False)
    assert providers_for(ServingConfig(), [CPU]) == ([CPU], False)
    with caplog.at_level(logging.WARNING):
        served = server_session(model, ServingConfig(provider=MISSING))
        profiled = profile_session(model, ServingConfig(provider=MISSING))
    assert served.get_providers() == profiled.get_providers() == [CPU]
    assert f"{MISSING} (recommended by the evaluation) is not available here" in caplog.text
    assert f"{MISSING} is not available here: running on {CPU}" in caplog.text


def test_a_file_runtime_refuses_is_an_error_of_each_side(tmp_path: Path) -> None:
    """The same refusal: the gate records a crash, the server refuses the version."""
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelCrashed, match=r"cannot load the candidate \(.+\)$") as crashed:
        profile_session(bad, label="candidate")
    with pytest.raises(Unavailable, match=r"cannot load the model \(.+\)$") as refused:
        server_session(bad, ServingConfig())
    reason = str(crashed.value).split(" (", 1)[1]
    assert refused.value.message.split(" (", 1)[1] == reason

"""Loading a version: verified files, the session settings, batchability."""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from tests.serve.conftest import damage, recommend_int8

from baton.core.refs import parse_ref
from baton.core.serving_config import ServingConfig
from baton.core.signature import Signature
from baton.errors import Corrupt, NotFound
from baton.serve.loader import (
    INLINE_BELOW_S,
    LoadedModel,
    ModelFailed,
    inline_below_s,
    load_version,
    one_cpu,
    runner,
)
from baton.serve.metrics import ServingMetrics
from baton.serve.options import SETTINGS, ServeOptions, ServingPlan, is_batchable, serving_plan
from baton.serve.process_metrics import Limits
from baton.store.store import Store


def spec(first: int) -> dict[str, object]:
    return {
        "inputs": [{"name": "x", "dtype": "float32", "shape": [first, 4]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [first, 3]}],
    }


def test_only_dynamic_first_dimensions_batch() -> None:
    assert is_batchable(Signature.model_validate(spec(-1)))
    assert not is_batchable(Signature.model_validate(spec(1)))


def load(store: Store, config: ServingConfig | ServingPlan, version: int = 1) -> LoadedModel:
    info = store.registry.resolve(parse_ref(f"toy:{version}"))
    metrics = ServingMetrics(CollectorRegistry(), process=False)
    if isinstance(config, ServingConfig):
        config = ServingPlan(config, dict.fromkeys(SETTINGS, "default"))
    return load_version(
        store,
        info,
        config,
        alias="",
        series=metrics.for_model("toy", str(version)),
        max_queue=4,
        on_batch=lambda rows, seconds: None,
    )


def infer(model: LoadedModel, x: np.ndarray) -> np.ndarray:
    async def main() -> np.ndarray:
        model.batcher.start()
        done = await model.batcher.submit({"input": x}, len(x))
        await model.batcher.close()
        return done.outputs["probabilities"]

    return asyncio.run(main())


def test_loaded_version_serves_with_its_configuration(toy_store: Store) -> None:
    model = load(toy_store, ServingConfig(max_batch_size=5, max_queue_delay_ms=2.5))
    assert model.name == "toy"
    assert model.version == "1"
    assert model.batchable
    assert model.batcher.max_batch_size == 5
    assert model.batcher.max_queue_delay_s == pytest.approx(0.0025)
    assert model.batcher.max_queue == 4
    probs = infer(model, np.ones((2, 4), np.float32))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_model_sha256_in_the_configuration_serves_that_artifact(toy_store: Store) -> None:
    """The profile may recommend another artifact (say, int8): the server loads that one."""
    v2 = toy_store.registry.resolve(parse_ref("toy:2"))
    x = np.ones((1, 4), np.float32)
    swapped = infer(load(toy_store, ServingConfig(model_sha256=v2.sha256)), x)
    own = infer(load(toy_store, ServingConfig()), x)
    np.testing.assert_allclose(swapped, infer(load(toy_store, ServingConfig(), 2), x))
    assert not np.allclose(swapped, own)
    with pytest.raises(Corrupt):
        load(toy_store, ServingConfig.model_construct(model_sha256="not-a-digest"))


def test_runtime_errors_become_one_line_bad_input(toy_store: Store) -> None:
    import onnxruntime as ort

    info = toy_store.registry.resolve(parse_ref("toy:1"))
    session = ort.InferenceSession(str(toy_store.artifacts.verified_path(info.sha256)))
    run = runner(session, "toy:1")
    with pytest.raises(ModelFailed, match="toy:1 could not compute this request"):
        run({"input": np.ones((1, 5), np.float32)})


def test_a_provider_missing_here_falls_back_to_cpu(
    toy_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """An evaluation run on a GPU host may recommend CUDA; a CPU host still serves."""
    with caplog.at_level(logging.WARNING, logger="baton.serve"):
        model = load(toy_store, ServingConfig(provider="NoSuchExecutionProvider"))
    assert "NoSuchExecutionProvider (recommended by the evaluation) is not available" in (
        caplog.text
    )
    assert infer(model, np.ones((1, 4), np.float32)).shape == (1, 3)


def test_a_damaged_model_file_is_not_served_even_from_its_int8_copy(
    toy_store: Store, tmp_path: Path
) -> None:
    """Issue 14.2: the int8 copy is tied to its source; a damaged source refuses the version."""
    recommend_int8(toy_store, "toy:1", tmp_path / "q")
    info = toy_store.registry.resolve(parse_ref("toy:1"))
    plan = serving_plan(toy_store, info, ServeOptions(refs=("toy",), precision="int8"))
    assert infer(load(toy_store, plan), np.ones((1, 4), np.float32)).shape == (1, 3)
    damage(toy_store, info.sha256)
    with pytest.raises(Corrupt) as raised:
        load(toy_store, plan)
    message = raised.value.message
    assert message.startswith("toy:1 will not be served: its model file model.onnx failed")
    assert "is corrupted" in message
    assert "\n" not in message


@pytest.mark.parametrize("role", ["eval_data", "int8"])
def test_any_damaged_file_of_the_version_refuses_it_and_is_named(
    toy_store: Store, tmp_path: Path, role: str
) -> None:
    recommend_int8(toy_store, "toy:1", tmp_path / "q")
    info = toy_store.registry.resolve(parse_ref("toy:1"))
    plan = serving_plan(toy_store, info, ServeOptions(refs=("toy",), precision="recommended"))
    sha = plan.config.model_sha256 if role == "int8" else info.file(role).sha256
    assert sha is not None
    damage(toy_store, sha)
    with pytest.raises(Corrupt) as raised:
        load(toy_store, plan)
    named = {
        "eval_data": "toy:1 will not be served: its eval_data file eval.npz failed verification",
        "int8": "toy:1 will not be served at int8: its int8 copy (made from its model file",
    }
    assert raised.value.message.startswith(named[role])
    if role == "int8":  # the registered model itself still serves, and the message says how
        assert "serve it without --precision" in raised.value.message
        assert load(toy_store, serving_plan(toy_store, info, ServeOptions(refs=("toy",))))


def test_a_missing_file_is_named_too(toy_store: Store) -> None:
    info = toy_store.registry.resolve(parse_ref("toy:2"))
    toy_store.artifacts.path_for(info.file("eval_data").sha256).unlink()
    with pytest.raises(NotFound) as raised:
        load(toy_store, ServingConfig(), 2)
    assert raised.value.message.startswith(
        "toy:2 will not be served: its eval_data file eval.npz failed verification"
    )


def limits(cpus: int, quota: float | None) -> Limits:
    return Limits(tuple(range(cpus)), quota, None, 8 << 30)


def test_batches_run_in_place_where_the_process_has_one_cpu() -> None:
    assert one_cpu(limits(1, None))  # pinned to one core (taskset)
    assert one_cpu(limits(8, 1.0))  # a container limited to one core
    assert one_cpu(limits(8, 0.5))
    assert not one_cpu(limits(2, None))
    assert not one_cpu(limits(8, 1.5))
    assert inline_below_s(lambda: limits(1, None)) == math.inf
    assert inline_below_s(lambda: limits(4, 2.0)) == INLINE_BELOW_S

    def unreadable() -> Limits:
        raise OSError("no /proc here")

    assert inline_below_s(unreadable) == INLINE_BELOW_S

"""Loading a version: the verified artifact, the session settings, batchability."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from baton.core.refs import parse_ref
from baton.core.serving_config import ServingConfig
from baton.core.signature import Signature
from baton.errors import Corrupt
from baton.serve.loader import LoadedModel, ModelFailed, is_batchable, load_version, runner
from baton.serve.metrics import ServingMetrics
from baton.store.store import Store


def spec(first: int) -> dict[str, object]:
    return {
        "inputs": [{"name": "x", "dtype": "float32", "shape": [first, 4]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [first, 3]}],
    }


def test_only_dynamic_first_dimensions_batch() -> None:
    assert is_batchable(Signature.model_validate(spec(-1)))
    assert not is_batchable(Signature.model_validate(spec(1)))


def load(store: Store, config: ServingConfig, version: int = 1) -> LoadedModel:
    info = store.registry.resolve(parse_ref(f"toy:{version}"))
    metrics = ServingMetrics(CollectorRegistry(), process=False)
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

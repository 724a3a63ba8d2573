"""Fixtures for deploy: an evaluated toy model in a real SQLite store, and baton's wheel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.config import Settings
from baton.core.evaluation import EvaluationReport
from baton.core.refs import parse_ref
from baton.core.serving_config import ServingConfig
from baton.deploy.service import Rendered, RenderRequest, render
from baton.handover.register import register_handover
from baton.store.store import Store, open_store
from baton.store.tx import utcnow
from tests.handover_factory import write_handover

RECOMMENDED = {
    "max_batch_size": 16,
    "intra_op_threads": 2,
    "cores": 2,
    "memory_bytes": 300 * (1 << 20),
    "throughput_rps": 850.0,
}


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """baton's wheel, built once from this checkout as the image target builds it."""
    from baton.deploy.wheel import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def deploy_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}", user="tester")


@pytest.fixture
def evaluated(deploy_settings: Settings, tmp_path: Path) -> Iterator[Store]:
    """``toy`` 1 and 2 registered; 1 passed the gate with a recommended configuration."""
    store = open_store(deploy_settings)
    for seed in (1, 2):
        register_handover(store, write_handover(tmp_path / f"toy{seed}", seed=seed), actor="t")
    store.evaluations.record(
        "toy", 1, status="passed", report=EvaluationReport(), actor="gate", started_at=utcnow(),
        recommended=ServingConfig.model_validate(RECOMMENDED),
    )  # fmt: skip
    yield store
    store.close()


@pytest.fixture
def int8_evaluated(evaluated: Store, tmp_path: Path) -> Store:
    """``evaluated``, with a later evaluation of ``toy`` 1 that recommends its int8 copy,
    quantised from its model and stored as ``baton evaluate`` stores it."""
    from baton.evaluate.profiler import quantize_int8

    info = evaluated.registry.resolve(parse_ref("toy:1"))
    copy = tmp_path / "int8" / "model.int8.onnx"
    copy.parent.mkdir()
    assert quantize_int8(evaluated.artifacts.verified_path(info.sha256), copy) is None
    stored = evaluated.artifacts.put_file(copy)
    config = {**RECOMMENDED, "precision": "int8", "model_sha256": stored.sha256}
    evaluated.evaluations.record(
        "toy", 1, status="passed", report=EvaluationReport(), actor="gate", started_at=utcnow(),
        recommended=ServingConfig.model_validate(config),
    )  # fmt: skip
    return evaluated


def render_toy(
    store: Store,
    out: Path,
    wheel: Path,
    *targets: str,
    ref: str = "toy:1",
    user: str = "tester",
    **options: object,
) -> Rendered:
    """Render ``ref`` (every target unless named) as ``user``."""
    request = RenderRequest(
        ref=ref,
        targets=targets or ("image", "compose", "k8s", "kserve", "ray"),
        out=out,
        wheel=wheel,
        **options,  # type: ignore[arg-type]
    )
    return render(store, user, request)

"""Serving configuration: the evaluation's recommendation, overridden by the operator."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.handover_factory import write_handover

from baton.core.refs import parse_ref
from baton.core.serving_config import ServingConfig
from baton.errors import BadInput
from baton.handover.register import register_handover
from baton.serve.options import DEFAULT_CONFIG, ServeOptions, serving_config_for
from baton.store.store import Store


def test_defaults_without_evaluation_and_recommendation_with_one(
    store: Store, tmp_path: Path
) -> None:
    register_handover(store, write_handover(tmp_path / "h"), actor="t")
    info = store.registry.resolve(parse_ref("toy:1"))
    options = ServeOptions(refs=("toy",))
    assert serving_config_for(store, info, options) == DEFAULT_CONFIG
    assert DEFAULT_CONFIG.max_queue_delay_ms == 0
    recommended = ServingConfig(max_batch_size=8, max_queue_delay_ms=1.5, intra_op_threads=2)
    store.evaluations.record(
        "toy",
        1,
        status="passed",
        report={},
        actor="t",
        started_at=datetime.now(UTC),
        recommended=recommended.model_dump(mode="json"),
    )
    assert serving_config_for(store, info, options) == recommended
    overridden = serving_config_for(
        store, info, ServeOptions(refs=("toy",), max_batch_size=64, threads=1)
    )
    assert overridden.max_batch_size == 64
    assert overridden.intra_op_threads == 1
    assert overridden.max_queue_delay_ms == 1.5


def test_bad_options_are_listed_in_one_line() -> None:
    with pytest.raises(BadInput) as info:
        ServeOptions(refs=(), port=-1, max_queue=0, poll_interval_s=-1)
    message = info.value.message
    assert "name at least one model to serve" in message
    assert "--port -1" in message
    assert "--max-queue" in message
    assert "--poll-interval" in message
    assert "\n" not in message

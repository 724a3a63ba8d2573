"""Serving plan: the evaluation's recommendation, overridden by the operator, with sources;
the model itself (fp32 or the int8 copy) changes only when asked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.handover_factory import write_handover
from tests.serve.conftest import recommend_int8

from baton.core.evaluation import EvaluationReport
from baton.core.refs import parse_ref
from baton.core.serving_config import ServingConfig
from baton.errors import BadInput
from baton.handover.register import register_handover
from baton.serve.options import DEFAULT_CONFIG, MIB, ServeOptions, serving_plan, workers_from
from baton.serve.process_metrics import Limits
from baton.store.store import Store


def test_defaults_without_evaluation_and_recommendation_with_one(
    store: Store, tmp_path: Path
) -> None:
    register_handover(store, write_handover(tmp_path / "h"), actor="t")
    info = store.registry.resolve(parse_ref("toy:1"))
    options = ServeOptions(refs=("toy",))
    plan = serving_plan(store, info, options)
    assert plan.config == DEFAULT_CONFIG
    assert set(plan.sources.values()) == {"default"}
    assert plan.describe() == (
        "fp32 (default: the registered model), batch 32 (default), 1 thread (default), "
        "queue delay 0 ms (default)"
    )
    assert DEFAULT_CONFIG.max_queue_delay_ms == 0
    recommended = ServingConfig(max_batch_size=8, max_queue_delay_ms=1.5, intra_op_threads=2)
    record = store.evaluations.record(
        "toy",
        1,
        status="passed",
        report=EvaluationReport(),
        actor="t",
        started_at=datetime.now(UTC),
        recommended=recommended,
    )
    assert serving_plan(store, info, options).config == recommended
    overridden = serving_plan(
        store, info, ServeOptions(refs=("toy",), max_batch_size=64, threads=1)
    )
    assert overridden.config.max_batch_size == 64
    assert overridden.config.intra_op_threads == 1
    assert overridden.config.max_queue_delay_ms == 1.5
    assert overridden.describe() == (
        f"fp32 (default: the registered model), batch 64 (--max-batch-size), "
        f"1 thread (--threads), queue delay 1.5 ms (evaluation {record.id}'s recommendation)"
    )
    assert overridden.hint() is None


def test_the_int8_copy_is_served_only_when_asked_for(toy_store: Store, tmp_path: Path) -> None:
    """Issue 14.1: an evaluation recommending int8 no longer switches the model silently."""
    info = toy_store.registry.resolve(parse_ref("toy:1"))
    evaluation = recommend_int8(toy_store, "toy:1", tmp_path / "q")

    default = serving_plan(toy_store, info, ServeOptions(refs=("toy",)))
    assert (default.config.precision, default.config.model_sha256) == ("fp32", None)
    assert default.sources["precision"] == "default"
    assert default.config.max_batch_size == 256  # batching still follows the evaluation
    assert default.sources["max_batch_size"] == "evaluation"
    assert default.hint() == (
        f"evaluation {evaluation} recommends int8 (its outputs differ a little from the "
        "registered model's): --precision int8 serves it"
    )
    assert default.parameters() == {
        "precision": "fp32",
        "precision_source": "default",
        "max_batch_size": 256,
        "max_batch_size_source": "evaluation",
        "threads": 2,
        "threads_source": "evaluation",
        "max_queue_delay_ms": 2.0,
        "max_queue_delay_ms_source": "evaluation",
        "evaluation": evaluation,
    }
    recommended = serving_plan(
        toy_store, info, ServeOptions(refs=("toy",), precision="recommended")
    )
    assert recommended.config.precision == "int8"
    assert recommended.config.model_sha256 not in (None, info.sha256)
    assert recommended.sources["precision"] == "evaluation"
    assert recommended.describe().startswith(f"int8 (evaluation {evaluation}'s recommendation)")
    assert recommended.hint() is None
    asked = serving_plan(toy_store, info, ServeOptions(refs=("toy",), precision="int8"))
    assert (asked.config.model_sha256, asked.sources["precision"]) == (
        recommended.config.model_sha256,
        "flag",
    )
    fp32 = serving_plan(toy_store, info, ServeOptions(refs=("toy",), precision="fp32"))
    assert (fp32.config.model_sha256, fp32.describe()[:19]) == (None, "fp32 (--precision),")


def test_int8_without_a_copy_is_one_line_and_recommended_falls_back(toy_store: Store) -> None:
    info = toy_store.registry.resolve(parse_ref("toy:2"))
    with pytest.raises(BadInput, match=r"toy:2 has no int8 copy: it was never evaluated"):
        serving_plan(toy_store, info, ServeOptions(refs=("toy",), precision="int8"))
    plan = serving_plan(toy_store, info, ServeOptions(refs=("toy",), precision="recommended"))
    assert (plan.config.precision, plan.sources["precision"]) == ("fp32", "default")
    toy_store.evaluations.record(
        "toy", 2, status="passed", report=EvaluationReport(), actor="t",
        started_at=datetime.now(UTC), recommended=ServingConfig(),
    )  # fmt: skip
    with pytest.raises(BadInput, match="its latest evaluation recommends fp32"):
        serving_plan(toy_store, info, ServeOptions(refs=("toy",), precision="int8"))
    plan = serving_plan(toy_store, info, ServeOptions(refs=("toy",), precision="recommended"))
    assert (plan.config.precision, plan.sources["precision"]) == ("fp32", "evaluation")


def test_bad_options_are_listed_in_one_line() -> None:
    with pytest.raises(BadInput) as info:
        ServeOptions(refs=(), port=-1, max_queue=0, poll_interval_s=-1, precision="fp16")
    message = info.value.message
    assert "name at least one model to serve" in message
    assert "--port -1" in message
    assert "--max-queue" in message
    assert "--poll-interval" in message
    assert "--precision fp16 must be one of fp32, int8, recommended" in message
    assert "\n" not in message


def test_port_limits_are_checked_and_the_body_budget_follows_the_body_limit() -> None:
    with pytest.raises(BadInput) as info:
        ServeOptions(
            refs=("toy",),
            max_connections=0,
            header_timeout_s=float("nan"),
            body_timeout_s=float("inf"),
            body_budget_bytes=1024,
            admin_token="x" * 15,
        )
    message = info.value.message
    for part in ("--max-connections", "--header-timeout", "--body-timeout", "--body-budget-mb",
                 "admin token must be at least 16"):  # fmt: skip
        assert part in message
    assert "x" * 15 not in message
    assert ServeOptions(refs=("toy",), max_body_bytes=8 * MIB).body_budget == 32 * MIB
    assert "secret-token-0123456789" not in repr(
        ServeOptions(refs=("toy",), admin_token="secret-token-0123456789")
    )


def _limits(cpus: int, quota: float | None) -> Limits:
    return Limits(tuple(range(cpus)), quota, None, 1 << 30)


@pytest.mark.parametrize(
    ("cpus", "quota", "want", "why"),
    [
        (8, None, 8, "8 CPUs allowed"),
        (8, 2.5, 2, "8 CPUs allowed, cgroup CPU limit 2.5"),
        (2, 4.0, 2, "2 CPUs allowed, cgroup CPU limit 4"),
        (1, 0.5, 1, "1 CPU allowed, cgroup CPU limit 0.5"),
    ],
)
def test_workers_auto_follows_affinity_and_the_cgroup_cpu_limit(
    cpus: int, quota: float | None, want: int, why: str
) -> None:
    assert workers_from("auto", lambda: _limits(cpus, quota)) == (want, why)
    assert workers_from(" AUTO ", lambda: _limits(cpus, quota))[0] == want


def test_workers_as_a_number_or_a_clear_refusal() -> None:
    assert workers_from("3") == (3, None)
    with pytest.raises(BadInput, match="--workers 'many' must be a whole number or auto"):
        workers_from("many")
    assert workers_from("auto")[0] >= 1  # this machine's own limits

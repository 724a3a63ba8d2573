"""The bulk seeder writes what registering and recording one by one writes, chain included."""

from __future__ import annotations

from datetime import UTC, datetime

from baton.core.evaluation import EvaluationReport
from baton.core.manifest import Manifest
from baton.store.registry import FileRecord, VersionInfo
from baton.store.store import Store
from testkit.seed import Gate, Handover, register_many

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def manifest(name: str, number: int) -> Manifest:
    return Manifest.model_validate(
        {
            "name": name,
            "version": f"1.{number}",
            "owner": "vision",
            "task": "classification",
            "model": "model.onnx",
            "signature": {
                "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}],
                "outputs": [{"name": "y", "dtype": "float32", "shape": [-1, 2]}],
            },
            "labels": ["a", "b"],
        }
    )


def report(name: str, number: int) -> EvaluationReport:
    return EvaluationReport.model_validate(
        {
            "schema": 1,
            "model": name,
            "version": number,
            "task": "classification",
            "verdict": {"passed": True, "status": "passed", "reasons": []},
            "checks": {},
            "metrics": {"accuracy": 0.9},
            "claimed": {},
            "tolerance": 0.01,
        }
    )


def handovers(name: str) -> list[Handover]:
    return [
        Handover(
            manifest(name, n),
            [FileRecord("model", "model.onnx", f"{name}{n}".ljust(64, "0"), 100 + n)],
            Gate("passed", report(name, n), NOW) if n == 2 else None,
        )
        for n in (1, 2, 3)
    ]


def shape(v: VersionInfo) -> tuple[object, ...]:
    return (v.number, v.label, v.size_bytes, v.manifest.version, v.aliases, len(v.files))


def test_seeded_models_read_back_like_registered_ones_and_the_chain_verifies(
    store: Store,
) -> None:
    for number, h in enumerate(handovers("slow"), start=1):  # the store's own methods
        store.registry.register(h.manifest, list(h.files), "bench")
        if h.gate is not None:
            store.evaluations.record(
                "slow",
                number,
                status="passed",
                report=h.gate.report,
                actor="gate",
                started_at=NOW,
            )
    register_many(store.engine, [handovers("fast-a"), handovers("fast-b")], "bench")

    slow_info, slow = store.registry.model("slow")
    for name in ("fast-a", "fast-b"):
        info, fast = store.registry.model(name)
        assert (info.owner, info.versions, info.latest, info.aliases) == (
            slow_info.owner,
            slow_info.versions,
            slow_info.latest,
            slow_info.aliases,
        )
        assert [shape(v) for v in fast] == [shape(v) for v in slow]
        latest = store.evaluations.latest(name, 2)
        assert latest is not None and latest.status == "passed" and latest.report.version == 2
        assert store.evaluations.latest(name, 1) is None

    def entries(model: str) -> list[tuple[object, ...]]:
        found = reversed(store.registry.audit(model, limit=100))
        return [(e.action, e.version, sorted(e.detail)) for e in found]

    assert entries("fast-a") == entries("slow")
    verdict = store.registry.verify_audit()
    assert verdict.intact and verdict.entries == 3 * len(entries("slow")) + 1  # + team.create

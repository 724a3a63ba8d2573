"""Rendered Kubernetes and KServe files, read back by the audit, give what was rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.audit.kubernetes import read_manifests
from baton.store.store import Store
from tests.deploy.conftest import render_toy


@pytest.mark.parametrize(
    ("options", "gpus", "hardware"),
    [({}, 0, "cpu"), ({"resources": {"gpus": 2}, "hardware": "nvidia-t4"}, 2, "nvidia-t4")],
)
def test_the_audit_reads_back_the_rendered_deployment(
    evaluated: Store, wheel: Path, tmp_path: Path, options: dict[str, object], gpus: int,
    hardware: str,
) -> None:  # fmt: skip
    extra = {"replicas": 3, "min_replicas": 2, "max_replicas": 5}
    resources = {**extra, **options.pop("resources", {})}  # type: ignore[dict-item]
    done = render_toy(
        evaluated, tmp_path / "o", wheel, "k8s", "kserve", resources=resources, **options
    )
    r = done.spec.resources
    deployments, notes = read_manifests([done.out / "k8s", done.out / "kserve"])
    assert notes == []
    by_source = {d.source: d for d in deployments}
    assert set(by_source) == {"kubernetes", "kserve"}
    for d in deployments:
        assert (d.model, d.version) == ("toy", "1")
        assert d.resources.cores == r.cores == 2
        assert d.resources.memory_bytes == r.memory_bytes
        assert d.resources.cpu_limit == r.cores
        assert d.resources.gpus == gpus
        assert d.resources.hardware == hardware
        assert d.owner == "research"
        assert (d.min_replicas, d.max_replicas) == (2, 5)
    assert by_source["kubernetes"].replicas == 3
    assert by_source["kserve"].replicas == 2  # KServe starts at minReplicas
    # the profile's capacity holds for the replica it measured (2 cores, no GPU) only
    capacity = by_source["kubernetes"].capacity
    assert [c.rps_at_slo for c in capacity] == ([850.0] if gpus == 0 else [])

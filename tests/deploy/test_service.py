"""``baton deploy render`` as a service: every target, deterministic, checked, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from baton.core.evaluation import EvaluationReport
from baton.deploy.check import check_dir
from baton.errors import BadInput, FailedCheck, Forbidden
from baton.store.renders import list_renders
from baton.store.store import Store
from baton.store.tx import utcnow
from tests.deploy.conftest import render_toy
from tests.ownership_factory import build_world


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_every_target_renders_identically_twice_and_checks_clean(
    evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    first = render_toy(evaluated, tmp_path / "a", wheel)
    second = render_toy(evaluated, tmp_path / "b", wheel)
    assert tree(first.out) == tree(second.out)
    assert first.manifest_sha256 == second.manifest_sha256
    manifest = json.loads((first.out / "MANIFEST.json").read_text())
    assert manifest["model_sha256"] == first.spec.digest
    assert set(manifest["files"]) == set(tree(first.out)) - {"MANIFEST.json"}
    assert {"image/Dockerfile", "image/requirements.lock", "compose/compose.yaml",
            "k8s/toy-v1.yaml", "kserve/toy-v1.yaml", "ray/serve_config.yaml",
            "model/MANIFEST.json", "image/model/model.onnx"} <= set(manifest["files"])  # fmt: skip
    assert check_dir(first.out) == []
    # resources from the evaluation's recommendation, said in the files
    k8s = (first.out / "k8s/toy-v1.yaml").read_text()
    assert "cpu 2 (evaluation 1), memory 512Mi (evaluation 1)" in k8s
    assert [r.id for r in list_renders(evaluated.engine, "toy")] == [2, 1]


def test_flags_then_audit_then_evaluation_then_defaults(
    evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    audit = {"rows": [{"model": "toy", "version": "1", "target": {
        "replicas": 3, "min_replicas": 2, "max_replicas": 6, "cores": 0.5,
        "memory_bytes": 256 * (1 << 20), "gpus": 0, "hardware": "cpu"}}]}  # fmt: skip
    (tmp_path / "audit.json").write_text(json.dumps(audit))
    done = render_toy(
        evaluated, tmp_path / "o", wheel, "k8s",
        from_audit=tmp_path / "audit.json", resources={"cores": 4.0},
    )  # fmt: skip
    comment = done.spec.resources.comment()
    assert "cpu 4 (--cpu)" in comment
    assert "memory 256Mi (audit audit.json)" in comment
    assert "replicas 3 (audit audit.json)" in comment
    assert "gpus 0 (audit audit.json)" in comment
    evaluated.evaluations.record(
        "toy", 2, status="passed", report=EvaluationReport(), actor="g", started_at=utcnow()
    )
    with pytest.raises(BadInput, match="no row for toy:2"):
        render_toy(evaluated, tmp_path / "p", wheel, "k8s", ref="toy:2",
                   from_audit=tmp_path / "audit.json")  # fmt: skip


def test_a_gpu_configuration(evaluated: Store, wheel: Path, tmp_path: Path) -> None:
    done = render_toy(
        evaluated, tmp_path / "g", wheel, "k8s", "kserve", "compose", "ray",
        resources={"gpus": 1}, hardware="nvidia-t4",
    )  # fmt: skip
    assert check_dir(done.out) == []
    deployment = next(yaml.safe_load_all((done.out / "k8s/toy-v1.yaml").read_text()))
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    compose = yaml.safe_load((done.out / "compose/compose.yaml").read_text())
    devices = compose["services"]["baton"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    with pytest.raises(BadInput, match="GPU.*on the cpu hardware price"):
        render_toy(evaluated, tmp_path / "h", wheel, "k8s", resources={"gpus": 1})
    assert not (tmp_path / "h").exists()


def test_refusals_are_one_line_audited_and_write_nothing(
    evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    with pytest.raises(FailedCheck, match="toy:2 never ran the gate"):
        render_toy(evaluated, tmp_path / "x", wheel, "k8s", ref="toy:2")
    evaluated.evaluations.record(
        "toy", 2, status="failed", report=EvaluationReport(), actor="gate", started_at=utcnow()
    )
    with pytest.raises(FailedCheck, match=r"toy:2 did not pass the gate \(evaluation 2: failed\)"):
        render_toy(evaluated, tmp_path / "x", wheel, "k8s", ref="toy:2")
    with pytest.raises(BadInput, match="unknown target 'helm'"):
        render_toy(evaluated, tmp_path / "x", wheel, "helm")
    (tmp_path / "taken").mkdir()
    with pytest.raises(BadInput, match="exists: pick a new --out, or pass --overwrite"):
        render_toy(evaluated, tmp_path / "taken", wheel, "k8s")
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    actions = [e.action for e in evaluated.registry.log_entries("toy", limit=50)]
    assert actions.count("deploy.render.refused") == 2
    assert list_renders(evaluated.engine) == []


def test_only_deployers_render_and_an_admin_may_force(
    store: Store, tmp_path: Path, wheel: Path
) -> None:
    world = build_world(store, tmp_path / "h", versions=1)
    world.evaluate(1)
    with pytest.raises(
        Forbidden, match=r"only serving \(R or A of deployment for toy\) may deploy"
    ):
        render_toy(store, tmp_path / "a", wheel, "k8s", user="alice")
    with pytest.raises(Forbidden, match="--force is for admins"):
        render_toy(store, tmp_path / "a", wheel, "k8s", user="alice", force=True)
    done = render_toy(store, tmp_path / "b", wheel, "k8s", user="sam")
    assert not done.forced
    world.gov.people.add_person("ada", ["marketing"], world.people["root"], admin=True)
    forced = render_toy(store, tmp_path / "c", wheel, "k8s", user="ada", force=True, why="hotfix")
    assert forced.forced
    actions = world.actions()
    assert actions[:4] == ["deploy.render.forced", "deploy.render", "deploy.render.refused",
                           "deploy.render.refused"]  # fmt: skip
    renders = list_renders(store.engine, "toy")
    assert [(r.actor, r.forced) for r in renders] == [("ada", True), ("sam", False)]
    assert renders[0].manifest_sha256 == forced.manifest_sha256


def test_overwrite_replaces_the_folder_whole(evaluated: Store, wheel: Path, tmp_path: Path) -> None:
    render_toy(evaluated, tmp_path / "o", wheel, "k8s", "compose")
    done = render_toy(evaluated, tmp_path / "o", wheel, "kserve", overwrite=True)
    assert not (done.out / "compose").exists() and (done.out / "kserve").is_dir()

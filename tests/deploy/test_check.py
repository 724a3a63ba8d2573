"""``deploy check``: each validator catches what it is there for, one line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from baton.core.evaluation import EvaluationReport
from baton.deploy.check import check_dir
from baton.deploy.kserve_rules import cross_field
from baton.errors import BadInput
from baton.store.store import Store
from tests.deploy.conftest import render_toy

SHARED = Path("/work/shared/data")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_each_validator_finds_its_problem(evaluated: Store, wheel: Path, tmp_path: Path) -> None:
    out = render_toy(evaluated, tmp_path / "o", wheel).out
    edit(out / "k8s/toy-v1.yaml", "  replicas: 1\n", "  replicas: two\n")
    edit(out / "kserve/toy-v1.yaml", "      protocolVersion: v2\n", "      protocolVersoin: v2\n")
    edit(out / "kserve/toy-v1.yaml", "    scaleMetric: cpu\n", "    scaleMetric: gpu\n")
    edit(out / "compose/compose.yaml", "    healthcheck:\n", "    helthcheck:\n")
    edit(out / "image/Dockerfile", 'CMD ["serve"', "CMD serve #")
    problems = check_dir(out)
    text = "\n".join(problems)
    assert "k8s/toy-v1.yaml: document 1 (Deployment toy-v1): spec.replicas: 'two'" in text
    assert "spec.predictor.model.protocolVersoin: unknown key" in text
    assert "predictor.scaleMetric: 'gpu' is not one of" in text
    assert "compose/compose.yaml: services.baton: 'helthcheck' does not match" in text
    assert "image/Dockerfile:" in text and "DL3025" in text
    assert "k8s/toy-v1.yaml: changed since it was rendered" in text
    assert all("\n" not in p for p in problems)


def test_a_kind_without_a_schema_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    doc = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    (tmp_path / "k8s" / "w.yaml").write_text(yaml.safe_dump(doc))
    problems = check_dir(tmp_path)
    assert any("no Kubernetes 1.33.0 schema for this kind" in p for p in problems)
    assert any("MANIFEST.json: cannot be read" in p for p in problems)
    with pytest.raises(BadInput, match="no such folder"):
        check_dir(tmp_path / "nope")


def test_kserve_canary_rules_and_the_shared_crd_schemas(
    evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    from baton.store.tx import utcnow

    evaluated.evaluations.record("toy", 2, status="passed", report=EvaluationReport(), actor="g",
                                 started_at=utcnow())  # fmt: skip
    out = render_toy(evaluated, tmp_path / "c", wheel, "kserve", canary=2, percent=10).out
    assert check_dir(out) == []
    runtime, service = yaml.safe_load_all((out / "kserve/toy-v1.yaml").read_text())
    # the shared copies the package's schemas came from accept them too
    for doc, name in ((service, "kserve/inferenceservice_v1beta1.json"),
                      (runtime, "kserve/clusterservingruntime_v1alpha1.json")):  # fmt: skip
        schema = json.loads((SHARED / name).read_text())
        body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
        jsonschema.validate(body, schema)
    assert service["spec"]["canary"][0]["trafficPercent"] == 10
    assert service["spec"]["canary"][0]["predictor"]["name"] == "v2"
    knative = dict(service, metadata={**service["metadata"], "annotations": {}})
    knative["spec"] = {**service["spec"], "canary": service["spec"]["canary"] * 2}
    knative["spec"]["canary"][1] = {"trafficPercent": 95, "predictor": {
        "name": "v1", "maxReplicas": 3}}  # fmt: skip
    problems = cross_field(knative)
    assert any("needs the annotation serving.kserve.io/deploymentMode: Standard" in p
               for p in problems)  # fmt: skip
    assert any("adds up to 105" in p for p in problems)
    assert any("is the stable predictor's" in p for p in problems)
    assert any("maxReplicas: a canary has fixed replicas" in p for p in problems)
    legacy = render_toy(evaluated, tmp_path / "k", wheel, "kserve", canary=2, percent=10,
                        kserve_mode="knative").out  # fmt: skip
    assert check_dir(legacy) == []
    _, isvc = yaml.safe_load_all((legacy / "kserve/toy-v1.yaml").read_text())
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10 and "canary" not in isvc["spec"]


def test_compose_matches_the_shared_compose_schema(
    evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    out = render_toy(evaluated, tmp_path / "m", wheel, "compose", with_monitoring=True).out
    assert check_dir(out) == []
    doc = yaml.safe_load((out / "compose/compose.yaml").read_text())
    compose_schema = json.loads((SHARED / "compose/compose-spec.json").read_text())
    jsonschema.Draft7Validator(compose_schema).validate(doc)
    assert set(doc["services"]) == {"baton", "prometheus", "alertmanager"}

"""Kubernetes and KServe manifests read as the audit's inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.audit.kubernetes import read_manifests
from baton.core.inventory import CapacityOption, Deployment
from baton.errors import BadInput

EXAMPLES = Path(__file__).parents[2] / "examples" / "fleet" / "k8s"
GI = 1024**3


def deployment(
    name: str = "digits",
    *,
    args: list[str] | None = None,
    annotations: dict[str, str] | None = None,
    resources: dict[str, Any] | None = None,
    replicas: int | None = 2,
    namespace: str | None = "prod",
    extra_containers: list[dict[str, Any]] | None = None,
    node_selector: dict[str, str] | None = None,
    kind: str = "Deployment",
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "server",
        "image": "baton:latest",
        "resources": resources
        if resources is not None
        else {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2"}},
    }
    if args is not None:
        container["args"] = args
    pod: dict[str, Any] = {"containers": [*(extra_containers or []), container]}
    if node_selector:
        pod["nodeSelector"] = node_selector
    spec: dict[str, Any] = {"template": {"metadata": {}, "spec": pod}}
    if replicas is not None:
        spec["replicas"] = replicas
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec}


def hpa(
    target: str, low: int | None, high: int, namespace: str = "prod", api: str = "v2"
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": high,
    }
    if low is not None:
        spec["minReplicas"] = low
    return {
        "apiVersion": f"autoscaling/{api}",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": namespace},
        "spec": spec,
    }


def write(tmp_path: Path, *docs: dict[str, Any], name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs))
    return path


def read_one(tmp_path: Path, *docs: dict[str, Any]) -> Deployment:
    found, notes = read_manifests([write(tmp_path, *docs)])
    assert len(found) == 1, notes
    return found[0]


PINNED = {"baton.dev/model": "digits", "baton.dev/version": "3"}


def test_the_examples_read_back() -> None:
    found, notes = read_manifests([EXAMPLES])
    assert notes == []
    by_name = {d.name: d for d in found}
    assert set(by_name) == {
        "vision/digits-classifier",
        "search/text-embedder",
        "payments/fraud-scorer",
    }
    digits = by_name["vision/digits-classifier"]
    assert (digits.model, digits.version, digits.source) == ("digits-classifier", "3", "kubernetes")
    assert (digits.replicas, digits.min_replicas, digits.max_replicas) == (3, 2, 8)
    assert digits.resources.cores == 2 and digits.resources.memory_bytes == GI  # no sidecar
    assert digits.resources.cpu_limit == 4
    assert (digits.serving.workers, digits.serving.max_batch_size) == (2, 32)
    assert digits.pod_prefix == "digits-classifier-"
    assert digits.owner == "research-vision"
    embedder = by_name["search/text-embedder"]
    assert embedder.source == "kserve"
    assert embedder.pod_prefix == "text-embedder-predictor-"
    assert (embedder.resources.gpus, embedder.resources.hardware) == (1, "nvidia-t4")
    assert embedder.autoscaled and (embedder.min_replicas, embedder.max_replicas) == (1, 4)
    assert embedder.slo_p99_ms == 50
    assert embedder.capacity == (
        CapacityOption(hardware="nvidia-t4", cores=4, gpus=1, rps_at_slo=5200),
    )
    fraud = by_name["payments/fraud-scorer"]
    assert (fraud.version, fraud.replicas, fraud.autoscaled) == ("12", 2, False)


def test_annotations_name_the_model_and_version(tmp_path: Path) -> None:
    d = read_one(tmp_path, deployment(annotations=PINNED))
    assert (d.name, d.model, d.version) == ("prod/digits", "digits", "3")
    assert (d.resources.cores, d.resources.memory_bytes, d.resources.cpu_limit) == (0.5, GI, 2)
    assert d.namespace == "prod"
    assert d.origin.endswith("m.yaml: document 1")


def test_labels_on_the_pod_template_count_too(tmp_path: Path) -> None:
    doc = deployment()
    doc["spec"]["template"]["metadata"]["labels"] = {
        "baton.dev/model": "digits",
        "baton.dev/version": "4",
    }
    assert read_one(tmp_path, doc).version == "4"


def test_baton_serve_arguments_name_the_version(tmp_path: Path) -> None:
    d = read_one(
        tmp_path,
        deployment(
            args=["serve", "digits:7", "--port=8000", "--threads", "2", "--allow-nonfinite"]
        ),
    )
    assert (d.model, d.version, d.serving.threads) == ("digits", "7", 2)


def test_a_command_running_baton_is_recognised(tmp_path: Path) -> None:
    doc = deployment()
    doc["spec"]["template"]["spec"]["containers"][0]["command"] = [
        "/usr/bin/baton",
        "serve",
        "digits:2",
    ]
    assert read_one(tmp_path, doc).version == "2"
    other = deployment(args=["python", "serve", "digits:2"])  # "serve", but not baton's
    found, notes = read_manifests([write(tmp_path, other, name="other.yaml")])
    assert found == [] and "names no model" in notes[0]


def test_a_server_of_two_models_splits_its_resources(tmp_path: Path) -> None:
    found, notes = read_manifests(
        [write(tmp_path, deployment(args=["serve", "digits:1", "toy:2", "--workers", "2"]))]
    )
    assert [(d.name, d.model, d.version) for d in found] == [
        ("prod/digits/digits:1", "digits", "1"),
        ("prod/digits/toy:2", "toy", "2"),
    ]
    assert all(d.resources.cores == 0.25 and d.resources.memory_bytes == GI / 2 for d in found)
    assert "split evenly" in notes[0]


def test_workloads_without_a_model_or_a_pinned_version_are_skipped_with_a_note(
    tmp_path: Path,
) -> None:
    found, notes = read_manifests(
        [
            write(
                tmp_path,
                deployment("web"),
                deployment("floating", args=["serve", "digits@production"]),
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}},
            )
        ]
    )
    assert found == []
    assert len(notes) == 2  # the ConfigMap is skipped silently
    assert notes[0].startswith("prod/web (") and "baton.dev/model" in notes[0]
    assert "version of digits is not pinned" in notes[1]


def test_an_hpa_sets_the_bounds_of_its_target(tmp_path: Path) -> None:
    d = read_one(tmp_path, deployment(annotations=PINNED, replicas=None), hpa("digits", 3, 9))
    assert (d.replicas, d.min_replicas, d.max_replicas, d.autoscaled) == (3, 3, 9, True)
    v1 = read_one(tmp_path, hpa("digits", None, 5, api="v1"), deployment(annotations=PINNED))
    assert (v1.replicas, v1.min_replicas, v1.max_replicas) == (2, 1, 5)


def test_an_hpa_in_another_namespace_does_not_apply(tmp_path: Path) -> None:
    d = read_one(tmp_path, deployment(annotations=PINNED), hpa("digits", 3, 9, namespace="dev"))
    assert (d.min_replicas, d.max_replicas) == (None, None)


def test_statefulsets_and_default_replicas(tmp_path: Path) -> None:
    d = read_one(tmp_path, deployment(annotations=PINNED, replicas=None, kind="StatefulSet"))
    assert d.replicas == 1
    assert d.pod_prefix == "digits-"


def test_the_baton_container_is_sized_not_the_sidecar(tmp_path: Path) -> None:
    sidecar = {"name": "proxy", "resources": {"requests": {"cpu": "4", "memory": "8Gi"}}}
    d = read_one(tmp_path, deployment(args=["serve", "digits:1"], extra_containers=[sidecar]))
    assert d.resources.cores == 0.5


def test_limits_stand_in_for_missing_requests_and_absent_ones_are_noted(tmp_path: Path) -> None:
    d = read_one(
        tmp_path,
        deployment(annotations=PINNED, resources={"limits": {"cpu": "3", "memory": "2Gi"}}),
    )
    assert (d.resources.cores, d.resources.memory_bytes) == (3, 2 * GI)
    found, notes = read_manifests(
        [write(tmp_path, deployment(annotations=PINNED, resources={}), name="none.yaml")]
    )
    assert found[0].resources.cores == 0
    assert "no cpu and memory request" in notes[0]


@pytest.mark.parametrize(
    ("selector", "hardware"),
    [
        ({"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}, "nvidia-t4"),
        ({"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}, "nvidia-a100-80gb"),
        ({"nvidia.com/gpu.product": "Tesla-T4"}, "nvidia-t4"),
        ({"cloud.google.com/gke-accelerator": "nvidia-l4"}, "nvidia-l4"),
    ],
)
def test_gpu_hardware_from_the_node_selector(
    tmp_path: Path, selector: dict[str, str], hardware: str
) -> None:
    resources = {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": 2}}
    d = read_one(
        tmp_path, deployment(annotations=PINNED, resources=resources, node_selector=selector)
    )
    assert (d.resources.gpus, d.resources.hardware) == (2, hardware)


def test_an_unnamed_gpu_is_noted_and_the_annotation_wins(tmp_path: Path) -> None:
    resources = {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": 1}}
    found, notes = read_manifests(
        [write(tmp_path, deployment(annotations=PINNED, resources=resources))]
    )
    assert found[0].resources.hardware == "gpu"
    assert "baton.dev/hardware" in notes[0]
    named = read_one(
        tmp_path,
        deployment(
            annotations={**PINNED, "baton.dev/hardware": "nvidia-h100"},
            resources=resources,
            node_selector={"nvidia.com/gpu.product": "Tesla-T4"},
        ),
    )
    assert named.resources.hardware == "nvidia-h100"


def inference_service(
    predictor: dict[str, Any], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "digits",
            "annotations": annotations if annotations is not None else PINNED,
        },
        "spec": {"predictor": predictor},
    }


def test_kserve_custom_containers_and_old_framework_keys(tmp_path: Path) -> None:
    custom = inference_service(
        {"containers": [{"name": "kserve-container", "args": ["serve", "digits:5"],
                         "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
        annotations={},
    )  # fmt: skip
    d = read_one(tmp_path, custom)
    assert (d.version, d.replicas, d.autoscaled, d.namespace) == ("5", 1, False, None)
    assert d.name == "digits"
    old = inference_service(
        {"minReplicas": 0, "maxReplicas": 3, "sklearn": {"storageUri": "gs://x",
         "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}}}
    )  # fmt: skip
    d = read_one(tmp_path, old)
    assert (d.replicas, d.min_replicas, d.max_replicas) == (0, 0, 3)
    assert d.resources.cores == 0.25


def test_kubectl_list_output_is_read(tmp_path: Path) -> None:
    listed = {"apiVersion": "v1", "kind": "List", "items": [deployment(annotations=PINNED)]}
    assert read_one(tmp_path, listed).model == "digits"


def test_folders_are_read_recursively_yaml_and_yml(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    write(tmp_path / "a", deployment("one", annotations=PINNED), name="one.yaml")
    write(
        tmp_path / "a" / "b",
        deployment("two", annotations={**PINNED, "baton.dev/version": "4"}),
        name="two.yml",
    )
    (tmp_path / "a" / "README.md").write_text("not yaml: [")
    found, _ = read_manifests([tmp_path / "a"])
    assert sorted(d.name for d in found) == ["prod/one", "prod/two"]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            deployment(
                annotations=PINNED, resources={"requests": {"cpu": "lots", "memory": "1Gi"}}
            ),
            r"m.yaml: document 1 \(Deployment digits\): spec.template.spec.containers\[0\]"
            r".resources.requests.cpu: CPU 'lots' is not a quantity",
        ),
        (
            deployment(annotations=PINNED, resources={"requests": {"cpu": "1", "memory": "2GB"}}),
            r"resources.requests.memory: memory '2GB' is not a quantity: write bytes or 512Mi",
        ),
        (
            deployment(annotations=PINNED, replicas=-2),
            r"spec.replicas: expected a whole number >= 0",
        ),
        (deployment(args=["serve", "Digits!"]), r"baton serve arguments: model name 'Digits!'"),
        (
            deployment(args=["serve", "digits:1", "--workers", "many"]),
            r"--workers: expected a whole",
        ),
        (
            deployment(annotations={**PINNED, "baton.dev/slo-p99-ms": "fast"}),
            r"baton.dev/slo-p99-ms: expected a number above 0, got 'fast'",
        ),
        (
            deployment(annotations=PINNED, resources={"limits": {"nvidia.com/gpu": "one"}}),
            r"limits.nvidia.com/gpu: expected a whole number",
        ),
        (
            deployment(annotations=PINNED, resources={"limits": {"nvidia.com/gpu": -1}}),
            r"limits.nvidia.com/gpu: expected a whole number, got -1",
        ),
        (
            hpa("digits", 5, 2),
            r"document 2 \(HorizontalPodAutoscaler digits\): spec.minReplicas 5 is above "
            r"spec.maxReplicas 2",
        ),
    ],
)
def test_bad_values_in_baton_workloads_name_file_document_and_field(
    tmp_path: Path, doc: dict[str, Any], expected: str
) -> None:
    docs = (
        [doc] if doc["kind"] != "HorizontalPodAutoscaler" else [deployment(annotations=PINNED), doc]
    )
    with pytest.raises(BadInput, match=expected) as info:
        read_manifests([write(tmp_path, *docs)])
    assert "\n" not in info.value.message


def test_yaml_errors_and_missing_paths(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Deployment\n---\nmetadata: {name: [x\n")
    with pytest.raises(BadInput, match=r"broken.yaml: not valid YAML at line 4"):
        read_manifests([broken])
    with pytest.raises(BadInput, match="no such manifest file or folder"):
        read_manifests([tmp_path / "nope.yaml"])
    deep = tmp_path / "deep.yaml"  # a RecursionError out of yaml.safe_load_all before
    deep.write_text("kind: Deployment\n---\nspec: " + "[" * 600 + "]" * 600 + "\n")
    with pytest.raises(BadInput, match=r"deep.yaml holds more than 32 levels of nesting"):
        read_manifests([deep])


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    resources=JSONISH,
    replicas=JSONISH,
    args=JSONISH,
    spec=st.dictionaries(st.sampled_from(["replicas", "template", "x"]), JSONISH, max_size=2),
)
def test_any_shape_is_read_or_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, resources: Any, replicas: Any, args: Any, spec: Any
) -> None:
    doc = deployment(annotations=PINNED)
    container = doc["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = resources
    container["args"] = args
    doc["spec"]["replicas"] = replicas
    loose = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": spec}
    folder = tmp_path_factory.mktemp("fuzz")
    for docs in ([doc], [loose]):
        message = ""
        try:
            read_manifests([write(folder, *docs)])
        except BadInput as exc:
            message = exc.message
        assert "\n" not in message

"""One ``baton serve`` for every target: the precision and the gRPC port asked for reach each
rendered server (container args, Compose command, Dockerfile CMD, Ray args) and its
ports, the int8 copy travels in the model folders only when it is served, and every file
still passes ``deploy check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from baton.deploy.check import check_dir
from baton.deploy.command import ServeCommand
from baton.errors import BadInput
from baton.store.store import Store
from tests.deploy.conftest import render_toy
from tests.deploy.dockerfile import instructions

INT8 = ["--precision", "int8"]


def test_the_command_says_only_what_differs_from_the_servers_defaults() -> None:
    plain = ServeCommand()
    assert plain.args() == ["serve", "--model-dir", "/mnt/models", "--host", "0.0.0.0",
                            "--port", "8080"]  # fmt: skip
    both = ServeCommand(precision="int8", grpc_port=8081)
    assert both.args()[-4:] == [*INT8, "--grpc-port", "8081"]
    assert plain.ray_args() == {"model_dir": "/mnt/models"}
    assert ServeCommand("/m", "int8").ray_args() == {"model_dir": "/m", "precision": "int8"}
    options = ServeCommand("/m", "int8", grpc_port=8081).options("toy:1")
    assert (options.refs, options.model_dir, options.precision) == (("toy:1",), "/m", "int8")
    assert options.grpc_port is None  # a Ray replica sits behind Ray's HTTP proxy
    assert ServeCommand("/m").options("toy:1").precision is None  # the server's default


def commands(out: Path) -> dict[str, list[str]]:
    """The serve arguments each rendered target runs, read back from its files (Ray's
    ``args`` as the flags they stand for)."""
    deployment = next(yaml.safe_load_all((out / "k8s/toy-v1.yaml").read_text()))
    runtime, _ = yaml.safe_load_all((out / "kserve/toy-v1.yaml").read_text())
    compose = yaml.safe_load((out / "compose/compose.yaml").read_text())
    found = {
        "k8s": deployment["spec"]["template"]["spec"]["containers"][0]["args"],
        "kserve": runtime["spec"]["containers"][0]["args"],
        "compose": compose["services"]["baton"]["command"],
        "image": json.loads(dict(instructions((out / "image/Dockerfile").read_text()))["CMD"]),
    }
    if (out / "ray").is_dir():
        ray = yaml.safe_load((out / "ray/serve_config.yaml").read_text())
        args = ray["applications"][0]["args"]
        found["ray"] = [f"--{k.replace('_', '-')}" if i % 2 == 0 else str(k) for kv in
                        args.items() for i, k in enumerate(kv)]  # fmt: skip
    return found


@pytest.mark.parametrize(
    ("asked", "runs"), [(None, "fp32"), ("fp32", "fp32"), ("int8", "int8"), ("recommended", "int8")]
)
def test_every_target_serves_the_precision_asked(
    int8_evaluated: Store, wheel: Path, tmp_path: Path, asked: str | None, runs: str
) -> None:
    done = render_toy(int8_evaluated, tmp_path / "o", wheel, precision=asked)
    out = done.out
    assert done.spec.precision == runs
    for target, argv in commands(out).items():
        assert (argv[-2:] == INT8) == (runs == "int8"), (target, argv)
        assert ("fp32" in argv) is False, (target, argv)  # fp32 is the server's own default
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert manifest["precision"] == runs and manifest["options"]["precision"] == asked
    int8 = int8_evaluated.evaluations.latest("toy", 1).recommended.model_sha256  # type: ignore[union-attr]
    assert manifest["served_sha256"] == (int8 if runs == "int8" else done.spec.digest)
    for folder in ("model", "image/model"):
        index = json.loads((out / folder / "MANIFEST.json").read_text())
        derived = [f for f in index["files"] if f["role"] == "derived"]
        if runs == "int8":
            assert derived == [{"role": "derived", "path": "model.int8.onnx", "sha256": int8,
                                "size_bytes": derived[0]["size_bytes"],
                                "derived_from": done.spec.digest}]  # fmt: skip
            assert manifest["files"][f"{folder}/model.int8.onnx"] == int8
        else:
            assert derived == [] and not (out / folder / "model.int8.onnx").exists()
    kserve = (out / "kserve/toy-v1.yaml").read_text()
    folder = f"{done.spec.digest}-int8" if runs == "int8" else done.spec.digest
    assert f"storageUri: pvc://baton-artifacts/{folder}\n" in kserve
    assert f"baton.dev/precision: {runs}\n" in kserve
    # the capacity the profile measured holds at the precision it measured (int8) only
    assert ("baton.dev/rps-at-slo" in kserve) == (runs == "int8")
    assert check_dir(out) == []


def test_the_grpc_port_is_rendered_where_a_client_reaches_it(
    evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    out = render_toy(
        evaluated, tmp_path / "g", wheel, "image", "compose", "k8s", "kserve", grpc_port=8081
    ).out
    assert set(commands(out)) == {"k8s", "kserve", "compose", "image"}
    for argv in commands(out).values():
        assert argv[-2:] == ["--grpc-port", "8081"]
    deployment, service, *_ = yaml.safe_load_all((out / "k8s/toy-v1.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8081, "protocol": "TCP"},
    ]
    assert service["spec"]["ports"][1] == {
        "name": "grpc", "port": 8081, "targetPort": "grpc", "protocol": "TCP",
        "appProtocol": "grpc",
    }  # fmt: skip
    runtime, _ = yaml.safe_load_all((out / "kserve/toy-v1.yaml").read_text())
    assert [p["name"] for p in runtime["spec"]["containers"][0]["ports"]] == ["http", "grpc"]
    compose = yaml.safe_load((out / "compose/compose.yaml").read_text())
    assert compose["services"]["baton"]["ports"] == ["127.0.0.1:8080:8080", "127.0.0.1:8081:8081"]
    assert "\nEXPOSE 8080 8081\n" in (out / "image/Dockerfile").read_text()
    assert check_dir(out) == []
    plain = render_toy(evaluated, tmp_path / "p", wheel, "kserve").out
    runtime, _ = yaml.safe_load_all((plain / "kserve/toy-v1.yaml").read_text())
    # without gRPC the one port stays unnamed, as Knative wants it (http1, h2c or none)
    assert runtime["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]


@pytest.mark.parametrize(
    ("targets", "options", "why"),
    [
        (("k8s", "ray"), {"grpc_port": 8081}, "Ray Serve's proxy carries HTTP only"),
        (("kserve",), {"grpc_port": 8081, "kserve_mode": "knative"}, "Knative routes one port"),
        (("k8s",), {"grpc_port": 8080}, "other than 8080"),
        (("k8s",), {"precision": "fp16"}, "--precision fp16: use fp32, int8, recommended"),
    ],
)
def test_options_no_server_could_honour_are_refused_in_one_line(
    evaluated: Store, wheel: Path, tmp_path: Path, targets: tuple[str, ...],
    options: dict[str, object], why: str,
) -> None:  # fmt: skip
    with pytest.raises(BadInput, match=why) as caught:
        render_toy(evaluated, tmp_path / "x", wheel, *targets, **options)
    assert "\n" not in caught.value.message
    assert not (tmp_path / "x").exists()

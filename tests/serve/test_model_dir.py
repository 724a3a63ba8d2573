"""``--model-dir``: a version served from its folder, with no registry, as from the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.serve.conftest import Start, damage, recommend_int8, v2_input
from tests.serve.test_drift import reference_report

from baton.config import Settings
from baton.core.refs import parse_ref
from baton.core.serving_config import ServingConfig
from baton.deploy.bundle import write_model_dir
from baton.errors import BadInput, Corrupt, NotFound
from baton.serve.model_dir import INDEX, open_model_dir
from baton.store.store import Store
from baton.store.tx import utcnow

ROW = [0.1, 0.2, 0.3, 0.4]


def export(store: Store, ref: str, dest: Path) -> Path:
    info = store.registry.resolve(parse_ref(ref))
    write_model_dir(store, info, store.evaluations.latest(info.model, info.number), dest)
    return dest


def nowhere(tmp_path: Path) -> Settings:
    """Settings naming a database that does not exist: a model folder needs none."""
    return Settings(home=tmp_path / "none", db_url="sqlite:////nonexistent/x.db", user="t")


def test_a_model_folder_serves_like_the_registry(
    toy_store: Store, live_server: Start, tmp_path: Path
) -> None:
    evaluation = toy_store.evaluations.record(
        "toy", 1, status="passed", report=reference_report(), actor="tester",
        started_at=utcnow(), recommended=ServingConfig(max_batch_size=8, intra_op_threads=2,
                                                 max_queue_delay_ms=1.0),
    )  # fmt: skip
    folder = export(toy_store, "toy:1", tmp_path / "m")
    from_registry = live_server("toy:1")
    from_folder = live_server("toy:1", settings=nowhere(tmp_path), model_dir=str(folder))
    body = {"inputs": [v2_input(ROW)]}
    a = from_registry.client.post("/v2/models/toy/infer", json=body).json()
    b = from_folder.client.post("/v2/models/toy/infer", json=body).json()
    assert a["outputs"] == b["outputs"] and b["model_version"] == "1"
    meta = from_folder.client.get("/v2/models/toy").json()
    params = meta["parameters"]
    assert params["max_batch_size"] == 8 and params["threads"] == 2
    assert params["evaluation"] == evaluation.id and params["max_batch_size_source"] == "evaluation"
    drift = from_folder.client.get("/v2/models/toy/drift").json()
    assert drift["reference"] is True
    metrics = from_folder.client.get("/metrics").text
    assert 'baton_requests_total{code="200",model="toy",version="1"}' in metrics


def test_the_int8_copy_travels_with_the_folder(
    toy_store: Store, live_server: Start, tmp_path: Path
) -> None:
    recommend_int8(toy_store, "toy:1", tmp_path / "q")
    folder = export(toy_store, "toy:1", tmp_path / "m")
    server = live_server(
        "toy:1", settings=nowhere(tmp_path), model_dir=str(folder), precision="int8"
    )
    params = server.client.get("/v2/models/toy").json()["parameters"]
    assert params["precision"] == "int8"


def test_a_changed_file_is_refused_naming_it(toy_store: Store, tmp_path: Path) -> None:
    folder = export(toy_store, "toy:1", tmp_path / "m")
    source = open_model_dir(folder)
    damage_file = folder / "model.onnx"
    data = bytearray(damage_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damage_file.write_bytes(bytes(data))
    with pytest.raises(Corrupt, match=r"model\.onnx changed after it was rendered"):
        source.verified_path(source.info.sha256)
    (folder / "baton.yaml").write_text("name: other\n")
    with pytest.raises(Corrupt, match="baton.yaml"):
        open_model_dir(folder)


def test_a_folder_that_is_not_one_says_so(tmp_path: Path, toy_store: Store) -> None:
    with pytest.raises(BadInput, match="no such folder"):
        open_model_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="holds no MANIFEST.json"):
        open_model_dir(tmp_path / "empty")
    folder = export(toy_store, "toy:2", tmp_path / "m")
    index = json.loads((folder / INDEX).read_text())
    index["files"][0]["path"] = "../escape.onnx"
    (folder / INDEX).write_text(json.dumps(index))
    with pytest.raises(BadInput, match=r"files\.0\.path"):
        open_model_dir(folder)


def test_it_serves_only_its_version(toy_store: Store, tmp_path: Path) -> None:
    source = open_model_dir(export(toy_store, "toy:2", tmp_path / "m"))
    assert source.resolve(parse_ref("toy")).number == 2
    for text in ("toy:1", "other", "toy@production"):
        with pytest.raises(NotFound):
            source.resolve(parse_ref(text))
    assert source.latest("toy", 2) is None  # never evaluated: defaults, no drift reference


def test_damage_in_the_store_is_not_exported(toy_store: Store, tmp_path: Path) -> None:
    info = toy_store.registry.resolve(parse_ref("toy:1"))
    damage(toy_store, info.sha256)
    with pytest.raises(Corrupt):
        export(toy_store, "toy:1", tmp_path / "m")

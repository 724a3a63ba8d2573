"""Every bad hand-over: one clear line, and nothing written (no record, no artifact)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
import sqlalchemy as sa
import yaml

from baton.errors import BadInput, Unavailable
from baton.handover.register import register_handover
from baton.runtime.mlp import random_mlp
from baton.store.store import Store
from tests.handover_factory import write_handover


def edit_manifest(folder: Path, **changes: object) -> None:
    path = folder / "baton.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


def assert_nothing_written(store: Store) -> None:
    assert store.registry.models() == []
    assert store.registry.log_entries() == []
    assert store.artifacts.all_digests() == []


def _missing_manifest(f: Path) -> None:
    (f / "baton.yaml").unlink()


def _bad_yaml(f: Path) -> None:
    (f / "baton.yaml").write_text("name: toy\nowner: [unclosed\n")


def _not_utf8(f: Path) -> None:
    (f / "baton.yaml").write_bytes(b"name: \xff\xfe\n")


def _invalid_field(f: Path) -> None:
    edit_manifest(f, task="detection")


def _missing_model(f: Path) -> None:
    (f / "model.onnx").unlink()


def _missing_eval(f: Path) -> None:
    (f / "eval.npz").unlink()


def _not_onnx(f: Path) -> None:
    (f / "model.onnx").write_bytes(b"\x89PNG\r\n\x1a\n this is a picture, not a model" * 10)


def _truncated(f: Path) -> None:
    data = (f / "model.onnx").read_bytes()
    (f / "model.onnx").write_bytes(data[: len(data) // 2])


def _empty_model(f: Path) -> None:
    (f / "model.onnx").write_bytes(b"")


def _wrong_dtype(f: Path) -> None:
    edit_manifest(
        f,
        signature={
            "inputs": [{"name": "input", "dtype": "float64", "shape": [-1, 4]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 3]}],
        },
    )


def _wrong_name(f: Path) -> None:
    edit_manifest(
        f,
        signature={
            "inputs": [{"name": "pixels", "dtype": "float32", "shape": [-1, 4]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 3]}],
        },
    )


def _wrong_shape(f: Path) -> None:
    edit_manifest(
        f,
        signature={
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 5]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 3]}],
        },
    )


def _checker_fails(f: Path) -> None:
    model = random_mlp([4, 8, 3])
    model.graph.node[0].input[1] = "no_such_tensor"
    onnx.save(model, str(f / "model.onnx"))


def _unknown_suffix(f: Path) -> None:
    (f / "model.onnx").rename(f / "model.bin")
    edit_manifest(f, model="model.bin")


CASES: list[tuple[Callable[[Path], None], str]] = [
    (_missing_manifest, "baton.yaml does not exist: write a baton.yaml"),
    (_bad_yaml, "baton.yaml is not valid YAML at line 3"),
    (_not_utf8, "baton.yaml: the manifest is not UTF-8 text"),
    (_invalid_field, "baton.yaml: task: Input should be"),
    (_missing_model, "model file 'model.onnx' named in baton.yaml is missing"),
    (_missing_eval, "eval data 'eval.npz' named in baton.yaml is missing"),
    (_not_onnx, "model.onnx is not an ONNX model|model.onnx fails the ONNX checker"),
    (_truncated, "model.onnx is not an ONNX model|model.onnx fails the ONNX checker"),
    (_empty_model, "model.onnx fails the ONNX checker"),
    (_wrong_dtype, "input 'input' is declared float64 but the model uses float32"),
    (_wrong_name, "input 'pixels' is not in the model \\(it has input\\)"),
    (_wrong_shape, r"input 'input' is declared \[-1, 5\] but the model's shape is \[-1, 4\]"),
    (_checker_fails, "model.onnx fails the ONNX checker"),
    (_unknown_suffix, "model.bin: baton takes .onnx files"),
]


@pytest.mark.parametrize(
    ("break_it", "message"), CASES, ids=[c[0].__name__.strip("_") for c in CASES]
)
def test_bad_handover_is_refused_and_leaves_nothing(
    store: Store, tmp_path: Path, break_it: Callable[[Path], None], message: str
) -> None:
    folder = write_handover(tmp_path / "h")
    break_it(folder)
    with pytest.raises(BadInput, match=message) as info:
        register_handover(store, folder, actor="tester")
    assert "\n" not in info.value.message
    assert_nothing_written(store)


def test_model_file_with_manifest_option(store: Store, tmp_path: Path) -> None:
    """The model file typed on the command line is taken where it is; the manifest's paths
    stay in the manifest's own folder (there, eval.data sits beside it)."""
    folder = write_handover(tmp_path / "h")
    elsewhere = tmp_path / "manifests" / "toy.yaml"
    elsewhere.parent.mkdir()
    (folder / "baton.yaml").rename(elsewhere)
    (folder / "eval.npz").rename(elsewhere.parent / "eval.npz")
    with pytest.raises(BadInput, match="no manifest for model.onnx: pass --manifest"):
        register_handover(store, folder / "model.onnx", actor="tester")
    result = register_handover(store, folder / "model.onnx", manifest=elsewhere, actor="tester")
    assert result.version.number == 1


def test_manifest_option_does_not_widen_the_folder(store: Store, tmp_path: Path) -> None:
    """An absolute eval.data was accepted beside --manifest; now it is refused like any."""
    folder = write_handover(tmp_path / "h")
    elsewhere = tmp_path / "manifests" / "toy.yaml"
    elsewhere.parent.mkdir()
    data = yaml.safe_load((folder / "baton.yaml").read_text())
    data["eval"]["data"] = str(folder / "eval.npz")
    elsewhere.write_text(yaml.safe_dump(data))
    with pytest.raises(BadInput, match="eval.data '/.*' in toy.yaml is an absolute path"):
        register_handover(store, folder / "model.onnx", manifest=elsewhere, actor="tester")
    assert_nothing_written(store)


def test_database_failure_after_storing_files_removes_them(store: Store, tmp_path: Path) -> None:
    """The database refuses the insert (a real trigger): the stored files are removed again."""
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(
                sa.text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'simulated storage failure'; END; $$"
                )
            )
            conn.execute(
                sa.text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON versions "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        else:
            conn.execute(
                sa.text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON versions "
                    "BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END"
                )
            )
    with pytest.raises(sa.exc.DBAPIError, match="simulated storage failure"):
        register_handover(store, write_handover(tmp_path / "h"), actor="tester")
    assert store.artifacts.all_digests() == []
    assert store.registry.models() == []
    assert store.registry.log_entries() == []


def test_unreachable_database_before_anything_is_stored(tmp_path: Path) -> None:
    from baton.store.artifacts import ArtifactStore
    from baton.store.db import make_engine
    from baton.store.registry import Registry
    from baton.store.store import Store as StoreType

    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    store = StoreType(engine, Registry(engine), ArtifactStore(tmp_path / "artifacts"))
    with pytest.raises(Unavailable, match="cannot reach the database"):
        register_handover(store, write_handover(tmp_path / "h"), actor="tester")
    assert store.artifacts.all_digests() == []


def test_torchscript_handover_is_exported_and_its_source_kept(store: Store, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="needs the torch extra (make test installs it)")
    folder = write_handover(tmp_path / "h")
    (folder / "model.onnx").unlink()
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=-1)).eval()
    torch.jit.save(torch.jit.script(net), str(folder / "model.pt"))
    edit_manifest(folder, model="model.pt")
    version = register_handover(store, folder, actor="tester").version
    assert {f.role: f.filename for f in version.files}["source"] == "model.pt"
    onnx_bytes = store.artifacts.read_bytes(version.sha256)
    assert onnx.load_from_string(onnx_bytes).graph.input[0].name == "input"
    assert store.artifacts.temporary() == []  # the export's scratch folder is gone

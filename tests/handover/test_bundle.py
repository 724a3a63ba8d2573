"""Reading a hand-over: the folder is the manifest's folder, and nothing leads out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from baton.config import Settings
from baton.errors import BadInput
from baton.handover.bundle import read_handover
from baton.yaml_files import MANIFEST_LIMITS, YamlLimits
from tests.handover_factory import write_handover


def edit(folder: Path, **changes: object) -> None:
    data = yaml.safe_load((folder / "baton.yaml").read_text())
    data.update(changes)
    (folder / "baton.yaml").write_text(yaml.safe_dump(data))


def test_a_plain_folder_reads(tmp_path: Path) -> None:
    handover = read_handover(write_handover(tmp_path / "h"))
    assert handover.model_path == (tmp_path / "h" / "model.onnx").resolve()
    assert handover.eval_path == (tmp_path / "h" / "eval.npz").resolve()


def test_a_manifest_linked_from_outside_is_refused(tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "h")
    (folder / "baton.yaml").rename(tmp_path / "other.yaml")
    (folder / "baton.yaml").symlink_to(tmp_path / "other.yaml")
    with pytest.raises(BadInput, match="the manifest 'baton.yaml' in .* leads outside"):
        read_handover(folder)


@pytest.mark.parametrize("field", ["model", "eval"])
def test_a_model_or_eval_file_linked_from_outside_is_refused(tmp_path: Path, field: str) -> None:
    folder = write_handover(tmp_path / "h")
    name = "model.onnx" if field == "model" else "eval.npz"
    (folder / name).rename(tmp_path / name)
    (folder / name).symlink_to(tmp_path / name)
    with pytest.raises(BadInput, match=f"{field}(.data)? '{name}' in baton.yaml leads outside"):
        read_handover(folder)


def test_model_field_is_checked_even_beside_an_explicit_model_file(tmp_path: Path) -> None:
    """The model field is kept as the stored file's name, so it may not climb out either."""
    folder = write_handover(tmp_path / "h")
    edit(folder, model="../../model.onnx")
    with pytest.raises(BadInput, match="model '../../model.onnx' in baton.yaml climbs out"):
        read_handover(folder / "model.onnx")


def test_an_explicit_manifest_confines_to_its_own_folder(tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "h")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (folder / "baton.yaml").rename(manifests / "toy.yaml")
    with pytest.raises(BadInput, match="eval data 'eval.npz' named in toy.yaml is missing"):
        read_handover(folder / "model.onnx", manifests / "toy.yaml")
    (manifests / "eval.npz").symlink_to(folder / "eval.npz")
    with pytest.raises(BadInput, match="eval.data 'eval.npz' in toy.yaml leads outside"):
        read_handover(folder / "model.onnx", manifests / "toy.yaml")


def test_a_special_file_is_not_taken_for_eval_data(tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "h")
    (folder / "eval.npz").unlink()
    os.mkfifo(folder / "eval.npz")
    with pytest.raises(BadInput, match="eval data 'eval.npz' named in baton.yaml is not a regular"):
        read_handover(folder)


def test_limits_are_those_given(tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "h", description="x" * 2000)
    read_handover(folder)
    small = YamlLimits(max_string=1000, settings="BATON_MANIFEST_MAX_")
    with pytest.raises(BadInput, match="raise BATON_MANIFEST_MAX_STRING"):
        read_handover(folder, limits=small)


def test_settings_build_the_manifest_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().manifest_limits == MANIFEST_LIMITS
    monkeypatch.setenv("BATON_MANIFEST_MAX_BYTES", "4096")
    monkeypatch.setenv("BATON_MANIFEST_MAX_DEPTH", "4")
    limits = Settings().manifest_limits
    assert (limits.max_bytes, limits.max_depth) == (4096, 4)
    assert limits.max_nodes == MANIFEST_LIMITS.max_nodes

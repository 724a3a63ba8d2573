"""Paths in a manifest stay inside the hand-over folder: by their text, and once resolved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.errors import BadInput
from baton.handover.confine import check_relative, inside


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/etc/shadow", "is an absolute path"),
        ("~/secrets.npz", "is an absolute path"),
        ("C:\\data\\eval.npz", "is an absolute path"),
        ("\\\\server\\share\\eval.npz", "is an absolute path"),
        ("../eval.npz", "climbs out of the hand-over folder"),
        ("data/../../eval.npz", "climbs out of the hand-over folder"),
        ("data\\..\\..\\eval.npz", "climbs out of the hand-over folder"),
    ],
)
def test_absolute_and_climbing_paths_are_refused(value: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as info:
        check_relative(value, "eval.data", "baton.yaml")
    assert info.value.message.startswith(f"eval.data {value!r} in baton.yaml ")


@pytest.mark.parametrize("value", ["eval.npz", "./data/eval.npz", "data/v2/eval.npz", "a..b.npz"])
def test_plain_relative_paths_pass(tmp_path: Path, value: str) -> None:
    check_relative(value, "eval.data", "baton.yaml")
    assert inside(tmp_path, value, "eval.data", "baton.yaml") == (tmp_path / value).resolve()


def test_a_link_to_a_file_outside_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    folder.mkdir()
    (tmp_path / "secret").write_text("s")
    (folder / "eval.npz").symlink_to(tmp_path / "secret")
    with pytest.raises(BadInput, match="leads outside the hand-over folder through a symbolic"):
        inside(folder, "eval.npz", "eval.data", "baton.yaml")


def test_a_linked_folder_outside_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    folder.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (folder / "data").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BadInput, match="leads outside"):
        inside(folder, "data/eval.npz", "eval.data", "baton.yaml")


def test_a_dangling_link_outside_is_refused_not_reported_missing(tmp_path: Path) -> None:
    (tmp_path / "eval.npz").symlink_to("/no/such/place/eval.npz")
    with pytest.raises(BadInput, match="leads outside"):
        inside(tmp_path, "eval.npz", "eval.data", "baton.yaml")


def test_links_that_stay_inside_are_followed(tmp_path: Path) -> None:
    (tmp_path / "v3").mkdir()
    (tmp_path / "v3" / "eval.npz").write_bytes(b"x")
    (tmp_path / "eval.npz").symlink_to("v3/eval.npz")
    assert (
        inside(tmp_path, "eval.npz", "eval.data", "baton.yaml")
        == (tmp_path / "v3" / "eval.npz").resolve()
    )


def test_a_linked_hand_over_folder_confines_to_its_target(tmp_path: Path) -> None:
    """The folder typed on the command line may itself be a link; paths stay in its target."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "eval.npz").write_bytes(b"x")
    (tmp_path / "alias").symlink_to(real)
    assert inside(tmp_path / "alias", "eval.npz", "eval.data", "m") == (real / "eval.npz")


def test_a_link_loop_is_bad_input(tmp_path: Path) -> None:
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(BadInput, match="eval.data 'a' in baton.yaml"):
        inside(tmp_path, "a", "eval.data", "baton.yaml")


@given(st.lists(st.sampled_from(["..", ".", "a", "b", "/", "\\", "~", "C:"]), max_size=8))
def test_whatever_passes_stays_inside(parts: list[str]) -> None:
    """Any text that is accepted names a place under the folder."""
    folder = Path("/srv/handover")
    value = "".join(parts)
    try:
        real = inside(folder, value, "eval.data", "baton.yaml")
    except BadInput:
        return
    assert real.is_relative_to(folder)

"""A canary's options beside its rollout: where they live, and a damaged file in one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from baton.config import Settings
from baton.errors import BadInput
from baton.rollout.kept_options import load_options, options_path, save_options


@dataclass(frozen=True)
class Kept:
    url: str
    retries: int = 3
    token_file: str | None = None


def test_options_live_under_the_home_per_rollout_and_target(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    path = options_path(settings, 12, "kserve")
    assert path == (tmp_path / "home").resolve() / "rollouts" / "rollout-12-kserve.json"


def test_saved_options_come_back_equal_and_the_folder_is_made(tmp_path: Path) -> None:
    path = tmp_path / "rollouts" / "rollout-1-x.json"
    save_options(Kept("http://r:1", token_file="/t"), path)
    assert load_options(Kept, path, "the x options") == Kept("http://r:1", 3, "/t")


@pytest.mark.parametrize(
    "text",
    ["{not json", "[1, 2]", '{"url": "u", "colour": "red"}', '{"retries": 1}'],
)
def test_a_damaged_file_is_one_line_naming_what_and_where(tmp_path: Path, text: str) -> None:
    path = tmp_path / "rollout-1-x.json"
    path.write_text(text)
    with pytest.raises(BadInput, match=r"^cannot read the x options .*rollout-1-x\.json: ") as e:
        load_options(Kept, path, "the x options")
    assert "\n" not in str(e.value)


def test_a_missing_file_is_one_line_too(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read the x options .*No such file"):
        load_options(Kept, tmp_path / "gone.json", "the x options")

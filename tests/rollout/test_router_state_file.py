"""The router's state file on disk: replaced whole, read back, refused when it is not one."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from baton.errors import BadInput
from baton.rollout import router_state_file
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_state import Saved, first_table, next_table, parse_change, saved_from
from baton.rollout.weights import Weights

A, B = "http://127.0.0.1:9001", "http://127.0.0.1:9002"


def options(state: Path | None) -> RouterOptions:
    return RouterOptions(
        "digits",
        {"stable": A, "canary": B},
        Weights(90, 0, 10),
        state_file=None if state is None else str(state),
    )


def promoted(opts: RouterOptions) -> Saved:
    """The command line's table after one change (everything to B), pools closed."""

    async def make() -> Saved:
        table = first_table(opts)
        change = parse_change(
            b'{"weights": {"stable": 100}, "upstreams": {"stable": "%s"}}' % B.encode()
        )
        new, _, _ = next_table(table, change, 1.0)
        for pool in [*table.upstreams.values(), *new.upstreams.values()]:
            pool.close()
        return saved_from(new)

    return asyncio.run(make())


def test_a_saved_table_is_read_back_and_replaced_whole(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    opts = options(state)
    assert router_state_file.load(options(None)) is None  # no state file: memory only
    assert router_state_file.load(opts) is None  # none yet: the command line's
    router_state_file.save(opts, promoted(opts))
    assert router_state_file.load(opts) == Saved(2, Weights(100, 0, 0), {"stable": B, "canary": B})
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no part file left behind
    # a newly rendered command line starts from its own weights, and its start replaces it
    assert router_state_file.load(replace(opts, weights=Weights(80, 0, 20))) is None


def test_a_state_file_that_is_not_one_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    opts = options(state)
    router_state_file.save(opts, promoted(opts))
    good = state.read_text()
    assert '"generation": 2' in good
    for content, message in (
        ("{half", "is not JSON"),
        ('{"format": 9}', "not a router's state"),
        (good.replace('"generation": 2', '"generation": -1'), "generation -1"),
    ):
        state.write_text(content)
        with pytest.raises(BadInput) as caught:
            router_state_file.load(opts)
        assert str(state) in caught.value.message and message in caught.value.message
        assert "move it away" in caught.value.message
        assert "\n" not in caught.value.message
    state.unlink()
    state.mkdir()  # not a file at all
    with pytest.raises(BadInput, match="cannot read the router's state file"):
        router_state_file.load(opts)


def test_a_state_file_that_cannot_be_written_is_an_oserror_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    opts = options(tmp_path / "missing" / "state.json")
    with pytest.raises(FileNotFoundError):
        router_state_file.save(opts, promoted(opts))
    taken = tmp_path / "state.json"
    taken.mkdir()  # a folder where the file should go: the rename fails
    opts = options(taken)
    with pytest.raises(IsADirectoryError):
        router_state_file.save(opts, promoted(opts))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no part file


def test_a_start_without_a_saved_table_writes_the_command_lines_first(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    opts = options(state)
    assert router_state_file.start(options(None)) is None  # no file named: nothing written
    assert router_state_file.start(opts) is None  # none yet: the command line's, written
    assert router_state_file.load(opts) == Saved(1, opts.weights, dict(opts.upstreams))
    router_state_file.save(opts, promoted(opts))
    assert router_state_file.start(opts) == promoted(opts)  # saved: left as it is
    with pytest.raises(BadInput) as caught:
        router_state_file.start(options(tmp_path / "missing" / "state.json"))
    assert "cannot write the router's state file" in caught.value.message
    assert "\n" not in caught.value.message

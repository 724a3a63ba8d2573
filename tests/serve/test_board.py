"""The folder a decider and its workers share: atomic decisions, asks taken once."""

from __future__ import annotations

import os
from pathlib import Path

from baton.core.refs import Ref
from baton.serve.board import Board
from baton.serve.decision import Decision, ServeTarget
from baton.store.servers import ServedModel


def test_each_publication_moves_the_stamp_and_is_read_whole(tmp_path: Path) -> None:
    board = Board(tmp_path)
    assert board.stamp() is None and board.read() is None
    last = None
    for generation in range(1, 50):  # faster than the file system's clock ticks
        board.publish(Decision(generation, (ServeTarget(Ref("toy"), generation),)))
        stamp = board.stamp()
        assert stamp != last  # a new file (inode) each time, even within one clock tick
        last = stamp
        decision = board.read()
        assert decision is not None and decision.generation == generation
    assert sorted(os.listdir(tmp_path)) == ["decision.json"]  # no part file left behind


def test_asks_are_taken_once_in_order_and_reports_of_the_dead_dropped(tmp_path: Path) -> None:
    board = Board(tmp_path)
    first = board.ask("load", "toy")
    second = board.ask("unload", "toy")
    assert [(a.id, a.action, a.name) for a in board.take_asks()] == [
        (first, "load", "toy"),
        (second, "unload", "toy"),
    ]
    assert board.take_asks() == []
    model = ServedModel("toy", 1, "production", 8, 1, "fp32")
    board.report(3, [model])
    board.report(3, [model], pid=999_999_999)
    (report,) = board.reports()
    assert (report.pid, report.generation, report.models) == (os.getpid(), 3, (model,))

"""Where a server's model repository takes its decisions from.

``BoardSource``: a worker of ``baton serve`` follows the decisions its parent publishes
(serve/board.py) and never reads an alias itself. ``LocalSource``: a server with no
decider beside it (a ``ServeApp`` run from Python) decides for itself, in-process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Protocol

from baton.core.refs import parse_ref
from baton.errors import Unavailable
from baton.serve.board import Ask, Board
from baton.serve.decider import Decider
from baton.serve.decision import Decision
from baton.serve.options import ServeOptions
from baton.serve.source import ModelSource
from baton.store.servers import ServedModel

WATCH_S = 0.05  # how often a worker looks at the decision file (one stat)
REREAD_S = 1.0  # and reads it even when the stat says nothing moved
ASK_TIMEOUT_S = 30.0


class Source(Protocol):
    @property
    def rounds(self) -> int:
        """Rounds of deciding finished: the decider's polls, or decisions read."""

    async def first(self) -> Decision: ...

    async def next(self, after: int, deadline: float | None) -> Decision | None:
        """The first decision newer than ``after``; None at ``deadline`` (monotonic)."""

    async def ask(self, action: str, name: str) -> Decision:
        """Ask for ``load`` or ``unload`` of ``name``; the decision that answers it."""

    def applied(self, generation: int, models: list[ServedModel]) -> None:
        """Say what this process serves after applying decision ``generation``."""


def source_for(store: ModelSource, options: ServeOptions) -> Source:
    if options.decisions_dir is not None:
        return BoardSource(Board(options.decisions_dir))
    return LocalSource(store, options)


class BoardSource:
    def __init__(self, board: Board) -> None:
        self.board = board
        self._stamp: tuple[int, int] | None = None
        self._read_at = 0.0
        self.rounds = 0

    async def first(self) -> Decision:
        decision = self.board.read()
        if decision is None:
            raise Unavailable(f"no decision to follow in {self.board.folder}")
        return decision

    async def next(self, after: int, deadline: float | None) -> Decision | None:
        while True:
            now = time.monotonic()
            stamp = self.board.stamp()
            if stamp != self._stamp or now - self._read_at >= REREAD_S:
                self._stamp, self._read_at = stamp, now
                decision = self.board.read()
                self.rounds += 1
                if decision is not None and decision.generation > after:
                    return decision
            if deadline is not None and now >= deadline:
                return None
            await asyncio.sleep(WATCH_S)

    async def ask(self, action: str, name: str) -> Decision:
        key = self.board.ask(action, name)
        deadline = time.monotonic() + ASK_TIMEOUT_S
        while time.monotonic() < deadline:
            decision = self.board.read()
            if decision is not None and key in decision.answers:
                decision.answers[key].raise_if_refused()
                return decision
            await asyncio.sleep(WATCH_S / 2)
        raise Unavailable(f"the server did not answer the {action} of {name} in time; try again")

    def applied(self, generation: int, models: list[ServedModel]) -> None:
        self.board.report(generation, models)


class LocalSource:
    def __init__(self, store: ModelSource, options: ServeOptions) -> None:
        self.decider = Decider(store, [parse_ref(text) for text in options.refs])
        self.every = options.poll_interval_s
        self._lock = asyncio.Lock()

    @property
    def rounds(self) -> int:
        return self.decider.rounds

    async def first(self) -> Decision:
        async with self._lock:
            return await asyncio.to_thread(self.decider.first)

    async def next(self, after: int, deadline: float | None) -> Decision | None:
        while True:
            now = time.monotonic()
            pause = self.every if self.every > 0 else None
            if deadline is not None:
                pause = min(pause or deadline - now, deadline - now)
            if pause is None:
                await asyncio.Event().wait()  # polling off: only load / unload move it
            await asyncio.sleep(max(0.0, pause or 0.0))
            if self.every > 0:
                async with self._lock:
                    decision = await asyncio.to_thread(self.decider.decide)
                if decision.generation > after:
                    return decision
            if deadline is not None and time.monotonic() >= deadline:
                return None

    async def ask(self, action: str, name: str) -> Decision:
        key = uuid.uuid4().hex
        async with self._lock:
            decision = await asyncio.to_thread(self.decider.decide, [Ask(key, action, name)])
        decision.answers[key].raise_if_refused()
        return decision

    def applied(self, generation: int, models: list[ServedModel]) -> None:
        pass  # nobody records a server run this way

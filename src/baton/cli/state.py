"""Per-invocation state: settings built once, the store opened on first use."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from baton.config import Settings
from baton.store.store import Store, open_store


@dataclass
class State:
    settings: Settings
    _store: Store | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj

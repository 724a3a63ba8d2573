"""Per-invocation state: settings built once, the store opened on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from baton.errors import BadInput

if TYPE_CHECKING:  # imported when used: `baton --help` must not pay for SQLAlchemy
    from baton.config import Settings
    from baton.rollout_control import RolloutControl
    from baton.store.governance import Control
    from baton.store.store import Store


@dataclass
class State:
    settings: Settings
    _store: Store | None = field(default=None, repr=False)
    _control: Control | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        if self._store is None:
            if self.settings.url:
                raise BadInput(
                    "this command works on the store itself, not through a control plane: "
                    "unset BATON_URL (and point BATON_DB_URL / BATON_ARTIFACTS at the store)"
                )
            from baton.store.store import open_store

            self._store = open_store(self.settings)
        return self._store

    @property
    def control(self) -> Control:
        """The registry and control plane: remote with BATON_URL + BATON_TOKEN, else local."""
        if self._control is None:
            from baton.connect import connect

            self._control = connect(self.settings, lambda: self.store)
        return self._control

    @property
    def rollouts(self) -> RolloutControl:
        """Deployments and canaries: through the control plane with BATON_URL (its machine
        runs the processes), else the rollout services on the store here."""
        if self.settings.url:
            from baton.client import RemoteControl

            control = self.control
            assert isinstance(control, RemoteControl)
            return control
        from baton.rollout_control import LocalRollouts

        return LocalRollouts(self.settings, self.store)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        close = getattr(self._control, "close", None)
        if close is not None:
            close()


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj

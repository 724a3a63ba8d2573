"""Open the registry and artifact store described by the settings."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from baton.config import Settings
from baton.store.artifacts import ArtifactStore
from baton.store.db import make_engine, migrate
from baton.store.log_chain import with_key
from baton.store.log_key import log_key
from baton.store.registry import Registry

if TYPE_CHECKING:
    from baton.store.evaluations import Evaluations
    from baton.store.servers import Servers


@dataclass
class Store:
    """The store's parts; the evaluations and the servers load on first use (the
    evaluation report's schema is 10 ms of a start-up that only lists models)."""

    engine: Engine
    registry: Registry
    artifacts: ArtifactStore

    @functools.cached_property
    def evaluations(self) -> Evaluations:
        from baton.store.evaluations import Evaluations

        return Evaluations(self.engine)

    @functools.cached_property
    def servers(self) -> Servers:
        from baton.store.servers import Servers

        return Servers(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def open_store(settings: Settings, *, upgrade: bool = True) -> Store:
    """Connect, bring the schema up to date, and hand back the store's parts."""
    engine = with_key(make_engine(settings.database_url), log_key(settings))
    if upgrade:
        migrate(engine)
    return Store(engine, Registry(engine), ArtifactStore(settings.artifact_root))

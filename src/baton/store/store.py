"""Open the registry and artifact store described by the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from baton.config import Settings
from baton.store.artifacts import ArtifactStore
from baton.store.db import make_engine, migrate
from baton.store.evaluations import Evaluations
from baton.store.log_chain import with_key
from baton.store.log_key import log_key
from baton.store.registry import Registry
from baton.store.servers import Servers


@dataclass
class Store:
    engine: Engine
    registry: Registry
    artifacts: ArtifactStore
    evaluations: Evaluations
    servers: Servers

    def close(self) -> None:
        self.engine.dispose()


def open_store(settings: Settings, *, upgrade: bool = True) -> Store:
    """Connect, bring the schema up to date, and hand back the store's parts."""
    engine = with_key(make_engine(settings.database_url), log_key(settings))
    if upgrade:
        migrate(engine)
    return Store(
        engine,
        Registry(engine),
        ArtifactStore(settings.artifact_root),
        Evaluations(engine),
        Servers(engine),
    )

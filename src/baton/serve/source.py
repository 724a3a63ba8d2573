"""Where a server reads what it serves: the registry store, or a model folder.

The server needs three things of its source: the version a reference names, that
version's latest evaluation (its recommended configuration and drift reference), and the
verified path of a file by its digest. ``Store`` has them; so does a model folder
(``serve/model_dir.py``), which lets a container serve with no registry or database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from baton.core.refs import Ref
from baton.store.evaluations import EvaluationRecord
from baton.store.registry import VersionInfo

if TYPE_CHECKING:
    from baton.config import Settings
    from baton.serve.options import ServeOptions


class Versions(Protocol):
    def resolve(self, ref: Ref) -> VersionInfo: ...

    @property
    def alias_lookups(self) -> int:
        """``resolve`` calls that read an alias: 0 in a process that follows a decider."""
        ...


class LatestEvaluations(Protocol):
    def latest(self, model: str, version: int) -> EvaluationRecord | None: ...


class Files(Protocol):
    def path_for(self, sha256: str) -> Path: ...

    def verified_path(self, sha256: str) -> Path: ...


class ModelSource(Protocol):
    """What ``serve`` reads: a ``Store``, or a ``ModelDir``."""

    @property
    def registry(self) -> Versions: ...

    @property
    def evaluations(self) -> LatestEvaluations: ...

    @property
    def artifacts(self) -> Files: ...

    def close(self) -> None: ...


def open_source(settings: Settings, options: ServeOptions) -> ModelSource:
    """The model folder of ``--model-dir``, else the registry the settings name."""
    if options.model_dir is not None:
        from baton.serve.model_dir import open_model_dir

        return open_model_dir(Path(options.model_dir))
    from baton.store.store import open_store

    return open_store(settings)

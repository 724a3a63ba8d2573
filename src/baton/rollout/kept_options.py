"""A canary's traffic options kept beside its rollout, for a restarted controller.

The KServe and the Compose canary (kserve_traffic.py, compose_traffic.py) both write their
options once at the start, as ``BATON_HOME/rollouts/rollout-N-TARGET.json``, and read them
back whenever a controller takes the rollout over.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from baton.config import Settings
from baton.errors import BadInput

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")


def options_path(settings: Settings, rollout_id: int, target: str) -> Path:
    """Where rollout ``rollout_id``'s options for ``target`` ("kserve", "compose") live."""
    return settings.home.resolve() / "rollouts" / f"rollout-{rollout_id}-{target}.json"


def save_options(options: DataclassInstance, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(options), indent=2) + "\n", encoding="utf-8")


def load_options(kind: type[T], path: Path, what: str) -> T:
    """``kind`` rebuilt from ``path``; ``what`` ("the KServe options") names it in the
    one-line error a missing or damaged file gives."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return kind(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise BadInput(f"cannot read {what} {path}: {exc}") from None

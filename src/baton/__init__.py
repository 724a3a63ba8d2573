"""baton: hand a trained model over from research to production, and keep it healthy there.

The public Python API is ``baton.Client`` and the other names in ``__all__`` (see
docs/python-api.md for what is stable); every other module is internal. The names are
imported on first use, so ``import baton`` stays light (no ONNX, numpy or database).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_HOMES = {
    "Client": "baton.sdk",
    "Serving": "baton.serve.background",
    "ServedVersion": "baton.serve.ready",
    "ServingPlan": "baton.serve.options",
    "Registered": "baton.store.registry",
    "ModelInfo": "baton.store.registry",
    "VersionInfo": "baton.store.registry",
    "LogEntry": "baton.store.registry",
    "AuditEntry": "baton.store.registry",  # LogEntry's former name, kept: the same class
    "EvaluationRecord": "baton.store.evaluations",
    "PromotionInfo": "baton.store.approvals",
    "Person": "baton.store.people",
    "TeamInfo": "baton.store.people",
    "NewUser": "baton.store.governance",
    "AuditResult": "baton.audit.result",
    "BatonError": "baton.errors",
    "Kind": "baton.errors",
    "BadInput": "baton.errors",
    "NotFound": "baton.errors",
    "Conflict": "baton.errors",
    "Forbidden": "baton.errors",
    "Unauthorized": "baton.errors",
    "Unavailable": "baton.errors",
    "Corrupt": "baton.errors",
    "FailedCheck": "baton.errors",
}

__all__ = [
    "AuditEntry",
    "AuditResult",
    "BadInput",
    "BatonError",
    "Client",
    "Conflict",
    "Corrupt",
    "EvaluationRecord",
    "FailedCheck",
    "Forbidden",
    "Kind",
    "LogEntry",
    "ModelInfo",
    "NewUser",
    "NotFound",
    "Person",
    "PromotionInfo",
    "Registered",
    "ServedVersion",
    "Serving",
    "ServingPlan",
    "TeamInfo",
    "Unauthorized",
    "Unavailable",
    "VersionInfo",
    "__version__",
]


_RENAMED = {"AuditEntry": "LogEntry"}  # public names kept when their class was renamed


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'baton' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), _RENAMED.get(name, name))
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and editors see; nothing is imported at run time
    from baton.audit.result import AuditResult
    from baton.errors import (
        BadInput,
        BatonError,
        Conflict,
        Corrupt,
        FailedCheck,
        Forbidden,
        Kind,
        NotFound,
        Unauthorized,
        Unavailable,
    )
    from baton.sdk import Client
    from baton.serve.background import Serving
    from baton.serve.options import ServingPlan
    from baton.serve.ready import ServedVersion
    from baton.store.approvals import PromotionInfo
    from baton.store.evaluations import EvaluationRecord
    from baton.store.governance import NewUser
    from baton.store.people import Person, TeamInfo
    from baton.store.registry import LogEntry, ModelInfo, Registered, VersionInfo

    AuditEntry = LogEntry

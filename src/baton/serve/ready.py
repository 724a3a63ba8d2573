"""What a server says once it serves, and only then.

``ReadyServer`` is uvicorn's server calling back once the port is ours and the app's
start-up (loading every model) is done, so nothing announces an address that does not
answer yet. ``served_versions`` and ``serving_document`` are what ``baton serve --json``
prints and what ``baton.Client.serve`` hands back: the address, each model, its version
and its serving plan with where each setting came from.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import uvicorn

from baton.serve.options import SETTINGS, ServingPlan
from baton.store.registry import VersionInfo


class ReadyServer(uvicorn.Server):
    """uvicorn's server, calling ``ready`` once it has started (never on a failed start):
    ``baton serve`` (as ``AnnouncingServer``), ``baton router`` and the web pages run it."""

    def __init__(self, config: uvicorn.Config, ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._ready()


@dataclass(frozen=True)
class ServedVersion:
    """One model a server runs: what was asked for, what it resolved to, and how it runs."""

    requested: str  # as given: NAME, NAME@ALIAS or NAME:N
    model: str
    version: int
    url: str  # the V2 model endpoint, e.g. http://127.0.0.1:8000/v2/models/NAME
    plan: ServingPlan

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"


def served_versions(
    base: str, refs: Sequence[str], planned: Sequence[tuple[VersionInfo, ServingPlan]]
) -> list[ServedVersion]:
    return [
        ServedVersion(text, info.model, info.number, f"{base}/v2/models/{info.model}", plan)
        for text, (info, plan) in zip(refs, planned, strict=True)
    ]


def plan_document(plan: ServingPlan) -> dict[str, object]:
    """A serving plan as JSON: each setting's value, its source, and the recommendation."""
    return {
        **plan.values,
        "sources": {name: plan.sources[name] for name in SETTINGS},
        "evaluation": plan.evaluation,
        "recommended_precision": plan.recommended_precision,
        "hint": plan.hint(),
    }


def serving_document(base: str, served: Sequence[ServedVersion]) -> dict[str, object]:
    """The one JSON object ``baton serve --json`` prints once it serves."""
    return {
        "url": base,
        "metrics": f"{base}/metrics",
        "pid": os.getpid(),
        "models": [
            {
                "requested": s.requested,
                "ref": s.ref,
                "model": s.model,
                "version": s.version,
                "url": s.url,
                "plan": plan_document(s.plan),
            }
            for s in served
        ],
    }

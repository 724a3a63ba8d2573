"""A local deployment's records: the router and the ``baton serve`` processes behind it. Pure.

``baton deploy up`` runs one model's ``@production`` version behind a ``baton router`` on
one machine, each version in its own process; a canary adds a baseline copy of the stable
version and the canary version beside it. The store keeps what runs as JSON documents,
handed out parsed: the controller, ``deploy status`` and ``deploy down`` read fields.

A process is named by its pid *and* the kernel's start time of that pid, so a pid reused
by an unrelated process after a crash is never taken for ours (nor signalled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.core.manifest import describe_validation_error
from baton.errors import BadInput


class Variant(StrEnum):
    STABLE = "stable"  # the production version: the rest of the traffic
    BASELINE = "baseline"  # a fresh copy of the stable version, as much traffic as the canary
    CANARY = "canary"  # the new version
    RETIRING = "retiring"  # a promoted canary's predecessor, no traffic, stopped next


Url = Annotated[str, Field(pattern=r"^http://[^/\s]+:\d+$")]


class ProcessDoc(BaseModel):
    """One process baton started and supervises: where it listens, how to find it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pid: Annotated[int, Field(gt=0)]
    started: Annotated[int, Field(ge=0)] | None = None  # /proc start time, in clock ticks
    url: Url
    log: str  # its output, under BATON_HOME/logs


class ServerProcess(ProcessDoc):
    """A ``baton serve`` of one pinned version, playing one variant."""

    variant: Variant
    version: Annotated[int, Field(ge=1)]


class RouterProcess(ProcessDoc):
    """The ``baton router`` in front of them, and the file holding its admin token."""

    token_file: str


class Processes(BaseModel):
    """Every server of a deployment (one per variant at most)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    servers: tuple[ServerProcess, ...]

    def of(self, variant: Variant) -> ServerProcess | None:
        return next((p for p in self.servers if p.variant is variant), None)

    def without(self, *variants: Variant) -> Processes:
        return Processes(servers=tuple(p for p in self.servers if p.variant not in variants))

    def with_(self, process: ServerProcess) -> Processes:
        kept = tuple(p for p in self.servers if p.variant is not process.variant)
        return Processes(servers=(*kept, process))


def parse_router(value: object, what: str) -> RouterProcess:
    try:
        return RouterProcess.model_validate(value)
    except ValidationError as exc:
        raise BadInput(f"{what}: {describe_validation_error(exc)}") from None


def parse_processes(value: object, what: str) -> Processes:
    try:
        return Processes.model_validate({"servers": value})
    except ValidationError as exc:
        raise BadInput(f"{what}: {describe_validation_error(exc)}") from None


@dataclass(frozen=True)
class DeploymentRecord:
    """A deployment as stored: its router, its servers, and whether it is still up."""

    id: int
    model: str
    hostname: str
    router: RouterProcess
    processes: Processes
    revision: int  # grows by one per change: compare and set
    started_by: str
    started_at: datetime
    updated_at: datetime
    stopped_by: str | None
    stopped_at: datetime | None

    @property
    def up(self) -> bool:
        return self.stopped_at is None

    def server(self, variant: Variant) -> ServerProcess | None:
        return self.processes.of(variant)

    def summary(self) -> str:
        return f"deployment #{self.id} of {self.model} on {self.hostname}"

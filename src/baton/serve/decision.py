"""What a server serves, as decided by its one decider and followed by every worker.

A decision names, for each reference served, the version it resolves to and the latest
evaluation of that version (whose drift reference the workers use). Workers follow it
without reading aliases themselves, so every process of a server serves the same versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import orjson

from baton.core.refs import Ref, parse_ref
from baton.errors import BatonError, Kind

ANSWERS_KEPT = 64  # answers to load/unload requests a decision carries (the latest ones)


@dataclass(frozen=True)
class ServeTarget:
    """One reference and the version (and evaluation) a server is to serve (not a promotion
    target, ``core.promotion.Target``)."""

    ref: Ref
    version: int
    evaluation: int | None = None

    @property
    def pinned(self) -> Ref:
        return Ref(self.ref.name, version=self.version)


@dataclass(frozen=True)
class Answer:
    """How the decider answered a worker's load or unload request (kind None: done)."""

    kind: Kind | None = None
    message: str = ""

    def raise_if_refused(self) -> None:
        if self.kind is not None:
            raise BatonError(self.message, kind=self.kind)


class _TargetJSON(TypedDict):
    ref: str
    version: int
    evaluation: int | None


class _AnswerJSON(TypedDict):
    kind: str | None  # an errors.Kind value; None: done
    message: str


class _DecisionJSON(TypedDict):
    """A decision as the board carries it between the decider and the workers."""

    generation: int
    targets: list[_TargetJSON]
    answers: dict[str, _AnswerJSON]


@dataclass(frozen=True)
class Decision:
    generation: int
    targets: tuple[ServeTarget, ...]
    answers: dict[str, Answer] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        document: _DecisionJSON = {
            "generation": self.generation,
            "targets": [
                {"ref": str(t.ref), "version": t.version, "evaluation": t.evaluation}
                for t in self.targets
            ],
            "answers": {
                key: {"kind": a.kind.value if a.kind else None, "message": a.message}
                for key, a in self.answers.items()
            },
        }
        return orjson.dumps(document)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Decision:
        value: _DecisionJSON = orjson.loads(raw)
        targets = tuple(
            ServeTarget(parse_ref(t["ref"]), int(t["version"]), t["evaluation"])
            for t in value["targets"]
        )
        answers = {
            key: Answer(Kind(a["kind"]) if a["kind"] else None, a["message"])
            for key, a in value["answers"].items()
        }
        return cls(int(value["generation"]), targets, answers)

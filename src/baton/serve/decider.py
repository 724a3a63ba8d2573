"""The one place a server reads aliases: what each of its references resolves to now.

With ``--workers`` the parent process decides and the workers follow its decisions
(serve/board.py); a server run alone decides for itself. Either way one decider per
server resolves aliases and notices new evaluations, so every worker serves the same
versions and the store's record of the server can say which.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from baton.core.refs import Ref, parse_ref
from baton.errors import BatonError, NotFound
from baton.serve.board import Ask
from baton.serve.decision import ANSWERS_KEPT, Answer, Decision, ServeTarget
from baton.serve.source import ModelSource

log = logging.getLogger("baton.serve")


class Decider:
    """Resolves a server's references and its load / unload requests into decisions."""

    def __init__(self, store: ModelSource, refs: Iterable[Ref]) -> None:
        self.store = store
        self.refs = list(refs)
        self._last: dict[Ref, ServeTarget] = {}
        self._problems: dict[Ref, str] = {}
        self.decision = Decision(0, ())
        self.rounds = 0  # decide() calls finished

    def first(self) -> Decision:
        """The decision a server starts from: every reference must resolve."""
        targets = tuple(self._target(ref) for ref in self.refs)
        self.decision = Decision(1, targets)
        return self.decision

    def decide(self, asks: Sequence[Ask] = ()) -> Decision:
        """Take ``asks``, re-resolve every reference; a new generation when anything moved."""
        answers = dict(self.decision.answers)
        for ask in asks:
            answers[ask.id] = self._take(ask)
        targets = self._resolve()
        self.rounds += 1
        if targets == self.decision.targets and not asks:
            return self.decision
        kept = dict(list(answers.items())[-ANSWERS_KEPT:])
        self.decision = Decision(self.decision.generation + 1, targets, kept)
        return self.decision

    def _take(self, ask: Ask) -> Answer:
        try:
            if ask.action == "unload":
                self._unload(ask.name)
            elif not any(ref.name == ask.name for ref in self.refs):
                ref = parse_ref(ask.name)
                self._last[ref] = self._target(ref)
                self.refs.append(ref)
        except BatonError as exc:
            return Answer(exc.kind, exc.message)
        return Answer()

    def _unload(self, name: str) -> None:
        kept = [ref for ref in self.refs if ref.name != name]
        if len(kept) == len(self.refs):
            raise NotFound(f"model {name!r} is not served here, so it cannot be unloaded")
        self.refs = kept

    def _target(self, ref: Ref) -> ServeTarget:
        info = self.store.registry.resolve(ref)
        evaluation = self.store.evaluations.latest(info.model, info.number)
        target = ServeTarget(ref, info.number, evaluation.id if evaluation is not None else None)
        self._last[ref] = target
        return target

    def _resolve(self) -> tuple[ServeTarget, ...]:
        """Every reference now; one that fails keeps its last version, reported once."""
        targets = []
        for ref in self.refs:
            try:
                targets.append(self._target(ref))
            except Exception as exc:  # registry unreachable, alias removed...
                last = self._last.get(ref)
                text = exc.message if isinstance(exc, BatonError) else repr(exc)
                if self._problems.get(ref) != text:
                    kept = f"keeping {last.pinned}" if last else f"not serving {ref}"
                    log.warning("%s: %s", kept, text)
                self._problems[ref] = text
                if last is not None:
                    targets.append(last)
            else:
                if self._problems.pop(ref, None) is not None:
                    log.warning("%s: the registry answers again", ref)
        return tuple(targets)

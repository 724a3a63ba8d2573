"""Rollouts and history: a model's canaries, one rollout's spec, state and every decision with
its numbers and a chart, the pause / resume / abort / promote forms, and ``baton history``'s
timeline with its "what served at TIME" answer.

Everything is read through the store's history (``store/history.py``), the same facts
``baton history`` and ``baton canary status`` print; the forms call the same function as
``baton canary pause|resume|abort|promote`` (``canary_service.steer_as``), which applies the
R&R matrix and writes the audit entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup
from starlette.responses import Response

from baton.core.canary_roles import CanaryAction, allowed_teams
from baton.core.history_facts import RolloutFacts
from baton.core.refs import check_name
from baton.core.rollout_records import DecisionRecord, RolloutRecord, Weights
from baton.core.served_at import History
from baton.core.timeline import Event
from baton.errors import BadInput, Conflict, NotFound
from baton.store.canaries import STEERED
from baton.store.history import model_history, read_facts
from baton.store.rollouts import Rollouts
from baton.ui.filters import script_json
from baton.ui.web import Ctx, Page, redirect

ROLLOUTS_SHOWN = 20  # a model's newest rollouts on its page and its versions' pages
EVENTS_SHOWN = 40  # the newest timeline events on the model page
STEERABLE = (CanaryAction.PAUSE, CanaryAction.RESUME, CanaryAction.ABORT, CanaryAction.PROMOTE)
DONE = {
    CanaryAction.PAUSE: "paused",
    CanaryAction.RESUME: "resumed",
    CanaryAction.ABORT: "aborted",
    CanaryAction.PROMOTE: "promoting",
}


@dataclass(frozen=True)
class DecisionView:
    record: DecisionRecord
    after: Weights  # the traffic the decision left (until the next one)


@dataclass(frozen=True)
class ActionView:
    action: str
    teams: list[str]  # the teams that may take it (the service checks again)


def model_rollouts(ctx: Ctx, name: str) -> list[RolloutRecord]:
    """The model's newest rollouts, newest first."""
    return Rollouts(ctx.gov.store.engine).list(name, limit=ROLLOUTS_SHOWN)


def _ids(ctx: Ctx) -> tuple[str, int]:
    name = check_name(str(ctx.request.path_params["name"]))
    text = str(ctx.request.path_params["rollout_id"])
    if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise BadInput(f"rollout must be a whole number from 1, not {text[:20]!r}")
    return name, int(text)


def _facts(ctx: Ctx, name: str, rollout_id: int) -> RolloutFacts:
    facts = read_facts(ctx.gov.store.engine, name)
    found = next((r for r in facts.rollouts if r.rollout.id == rollout_id), None)
    if found is None:
        raise NotFound(f"{name} has no rollout #{rollout_id}: the model's page lists its rollouts")
    return found


def rollout(ctx: Ctx) -> Page:
    name, rollout_id = _ids(ctx)
    facts = _facts(ctx, name, rollout_id)
    record = facts.rollout
    matrix = ctx.gov.roles.owners(name).matrix
    actions = [
        ActionView(a.value, allowed_teams(matrix, a))
        for a in STEERABLE
        if record.phase in STEERED[a][1]
    ]
    owned = record.lease is not None and not record.lease.expired(datetime.now(UTC))
    return Page(
        "rollout.html",
        {
            "title": f"Rollout #{record.id} of {name}",
            "name": name,
            "r": record,
            "started_why": facts.initial.reason,
            "owned": owned,
            "decisions": decisions_with_weights(facts),
            "changes": [facts.initial, *facts.changes],
            "alerts": Rollouts(ctx.gov.store.engine).alerts(name, record.id),
            "actions": actions,
            "figure": chart(facts),
        },
    )


def decisions_with_weights(facts: RolloutFacts) -> list[DecisionView]:
    """Each decision with the weights in force once it was carried out: the last recorded
    state before the next decision (the rollout's present one after the last)."""
    states = [facts.initial, *facts.changes]
    out = []
    for i, d in enumerate(facts.decisions):
        later = facts.decisions[i + 1].at if i + 1 < len(facts.decisions) else None
        after = facts.rollout.weights if later is None else d.weights
        if later is not None:
            for state in states:
                if d.at <= state.at < later:
                    after = state.weights
        out.append(DecisionView(d, after))
    return out


def chart(facts: RolloutFacts) -> Markup:
    """The canary's share of traffic (a step line over every recorded state) and each
    interval's score, as a Plotly figure the page carries as data (drawn by charts.js)."""
    r = facts.rollout
    states = [facts.initial, *facts.changes]
    xs = [_iso(s.at) for s in states]
    ys: list[float | None] = [s.weights.canary for s in states]
    end = r.finished_at or datetime.now(UTC)
    if not xs or end > states[-1].at:
        xs.append(_iso(end))
        ys.append(r.weights.canary)
    scored = facts.decisions
    figure = {
        "data": [
            {"type": "scatter", "mode": "lines", "line": {"shape": "hv", "width": 3},
             "name": "canary traffic (%)", "x": xs, "y": ys},
            {"type": "scatter", "mode": "markers", "marker": {"size": 10, "symbol": "diamond"},
             "name": "interval score (0-100)", "x": [_iso(d.at) for d in scored],
             "y": [d.score for d in scored],
             "text": [f"step {d.step}: {d.decision.value}" for d in scored],
             "hovertemplate": "%{text}<br>score %{y}<extra></extra>"},
        ],
        "layout": {
            "title": {"text": f"Rollout #{r.id}: canary traffic and score over time"},
            "xaxis": {"title": {"text": "time (UTC)"}, "type": "date"},
            "yaxis": {"title": {"text": "percent / score"}, "range": [0, 105]},
            "legend": {"orientation": "h", "y": -0.25},
            "margin": {"t": 50, "r": 20},
            "height": 360,
        },
    }  # fmt: skip
    return script_json(json.dumps(figure, allow_nan=False))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def steer(ctx: Ctx) -> Response:
    """Pause, resume, abort or promote the rollout the page showed, as ``baton canary``."""
    from baton.config import Settings
    from baton.rollout.canary_service import steer_as

    name, rollout_id = _ids(ctx)
    action = _action(str(ctx.request.path_params["action"]))
    current = Rollouts(ctx.gov.store.engine).active(name)
    if current is None or current.id != rollout_id:
        raise Conflict(
            f"rollout #{rollout_id} of {name} is no longer in progress, so nothing was done: "
            "look at the page again"
        )
    seen = ctx.field("phase", required=False)
    if seen and seen != current.phase.value:
        raise Conflict(
            f"rollout #{rollout_id} went from {seen} to {current.phase.value} since this page "
            "was shown, so nothing was done: look at the page again, then decide"
        )
    why = ctx.field("why")
    assert ctx.me is not None
    settings = ctx.ui.config.settings or Settings()
    steer_as(settings, ctx.gov.store, name, action, ctx.me, why)
    return redirect(f"{ctx.root}/models/{name}/rollouts/{rollout_id}?done={DONE[action]}")


def _action(text: str) -> CanaryAction:
    for action in STEERABLE:
        if action.value == text:
            return action
    raise NotFound(f"no rollout action {text[:20]!r}: pause, resume, abort or promote")


def history(ctx: Ctx, name: str) -> tuple[History, list[Event], str | None]:
    """``baton history NAME [--at TIME]``: the model's newest events (up to ``at``) newest
    first, and what served at ``at`` (or now). Times without a zone are UTC, as shown."""
    from baton.core.instants import parse_instant

    at_text = ctx.arg("at")
    at = None if at_text is None else parse_instant(at_text, datetime.now(UTC), "at", UTC)
    found = model_history(ctx.gov.store.engine, name, at)
    return found, list(reversed(found.events))[:EVENTS_SHOWN], at_text

"""Ownership: the R&R matrix of a model (or the site's), each team's requests, the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from baton.core.refs import check_name
from baton.core.roles import Role, Stage, delegate_targets, letters
from baton.errors import BadInput
from baton.store.catalog import AuditQuery, Catalog, Page
from baton.store.ownership import Owners
from baton.store.requests import STATES
from baton.ui.web import Ctx
from baton.ui.web import Page as View

INBOX_PAGE = 25
# the audit log's action families, offered in its filter (reading the distinct actions of
# a large log on every view cost more than the rest of the page)
ACTION_FAMILIES = ("admin", "alias", "auth", "deploy", "evaluation", "promotion", "request",
                   "roles", "server", "team", "token", "user", "version")  # fmt: skip


def matrix_rows(owners: Owners) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(teams, [(stage, letters per team)]) for the R&R table."""
    teams = sorted(owners.matrix.teams())
    rows = [
        (
            stage.value,
            [letters(owners.matrix.stages[stage].get(team, frozenset())) for team in teams],
        )
        for stage in Stage
    ]
    return teams, rows


def ownership(ctx: Ctx) -> View:
    model = ctx.arg("model")
    owners = ctx.gov.roles.owners(check_name(model) if model else None)
    teams, rows = matrix_rows(owners)
    return View(
        "ownership.html",
        {
            "title": "Ownership",
            "model": model,
            "owners": owners,
            "teams": teams,
            "rows": rows,
            "roles": [(r.value, r.name.lower()) for r in Role],
        },
    )


def requests(ctx: Ctx) -> View:
    assert ctx.me is not None
    known = sorted(ctx.gov.people.team_names())
    team = ctx.arg("team") or (ctx.me.teams[0] if ctx.me.teams else None)
    state = ctx.arg("state", "open")
    if state == "all":
        state = None
    if state is not None and state not in STATES:
        raise BadInput(f"unknown state {state!r}: use open, closed or all")
    if team is not None:
        check_name(team, "team name")
    every = ctx.gov.requests.list(team=team, state=state) if team else []
    page = ctx.number("page")
    shown = every[(page - 1) * INBOX_PAGE : page * INBOX_PAGE]
    found = Page(shown, len(every), page, INBOX_PAGE)
    # the matrices of the models shown, read together: only this page's requests pay for them
    matrices = ctx.gov.roles.owners_of({r.model for r in shown if r.state == "open"})
    targets = {
        r.id: delegate_targets(matrices[r.model].matrix, Stage(r.stage), r.team)
        for r in shown
        if r.state == "open"
    }
    return View(
        "requests.html",
        {
            "title": "Requests",
            "team": team,
            "state": state or "all",
            "teams": known,
            "found": found,
            "targets": targets,
            "filters": {"team": team, "state": state or "all"},
            "mine": set(ctx.me.teams),
            # who a request of this inbox may be assigned to: the team's members
            "members": sorted(p.name for p in ctx.gov.people.people() if team in p.teams)
            if team in ctx.me.teams
            else [],
        },
    )


def _time(ctx: Ctx, name: str) -> datetime | None:
    text = ctx.arg(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"{name} must be a date or time such as 2026-11-25 or 2026-11-25T14:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def audit(ctx: Ctx) -> View:
    query = AuditQuery(
        model=ctx.arg("model"),
        team=ctx.arg("team"),
        person=ctx.arg("person"),
        action=ctx.arg("action"),
        since=_time(ctx, "since"),
        until=_time(ctx, "until"),
        page=ctx.number("page"),
    )
    catalog = Catalog(ctx.gov.store.engine)
    filters = {k: ctx.arg(k) for k in ("model", "team", "person", "action", "since", "until")}
    families = ACTION_FAMILIES
    return View(
        "audit.html",
        {
            "title": "Audit log",
            "found": catalog.audit(query),
            "filters": filters,
            "teams": sorted(ctx.gov.people.team_names()),
            "people": [p.name for p in ctx.gov.people.people()],
            "actions": families,
        },
    )

"""The models list and one model's page: owner, aliases, versions, verdicts, live servers."""

from __future__ import annotations

from collections import defaultdict

from baton.core.refs import check_name
from baton.store.catalog import STAGES, VERDICTS, Catalog, ModelQuery
from baton.store.servers import ServerRecord
from baton.ui.stale import seen_text
from baton.ui.views_rollouts import history, model_rollouts
from baton.ui.web import Ctx, Page


def live_servers(ctx: Ctx) -> dict[str, list[tuple[ServerRecord, int]]]:
    """model -> (server, version) for every server recorded as running."""
    found: dict[str, list[tuple[ServerRecord, int]]] = defaultdict(list)
    for server in ctx.gov.store.servers.live():
        for served in server.models:
            found[served.model].append((server, served.version))
    return found


def models(ctx: Ctx) -> Page:
    query = ModelQuery(
        search=ctx.arg("q"),
        team=ctx.arg("team"),
        verdict=ctx.arg("verdict"),
        stage=ctx.arg("stage"),
        page=ctx.number("page"),
    )
    found = Catalog(ctx.gov.store.engine).models(query)
    filters = {"q": query.search, "team": query.team, "verdict": query.verdict,
               "stage": query.stage}  # fmt: skip
    return Page(
        "models.html",
        {
            "title": "Models",
            "found": found,
            "filters": filters,
            "teams": sorted(ctx.gov.people.team_names()),
            "verdicts": VERDICTS,
            "stages": STAGES,
            "servers": live_servers(ctx),
        },
    )


def model(ctx: Ctx) -> Page:
    name = check_name(str(ctx.request.path_params["name"]))
    catalog = Catalog(ctx.gov.store.engine)
    found = catalog.versions(name, ctx.number("page"))
    owners = ctx.gov.roles.owners(name)
    aliases = catalog.aliases(name)
    story, events, at = history(ctx, name)
    return Page(
        "model.html",
        {
            "title": name,
            "name": name,
            "owner": owners.owner,
            "aliases": aliases,
            "found": found,
            "pending": ctx.gov.promotions.history(name, pending_only=True),
            "requests": ctx.gov.requests.list(model=name, state="open"),
            "servers": live_servers(ctx).get(name, []),
            "seen": seen_text(aliases),
            "rollouts": model_rollouts(ctx, name),
            "story": story,
            "events": events,
            "at": at,
        },
    )

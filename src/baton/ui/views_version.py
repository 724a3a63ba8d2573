"""One version: manifest, claimed against measured, gate checks, charts, profile, drift,
promotions with approvals, renders; and the promotion forms its viewer may send."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from baton.core.promotion import State, Target, state_of
from baton.core.refs import Ref, check_name
from baton.errors import BadInput, BatonError
from baton.monitor.drift_query import DriftScoreJSON
from baton.store.catalog import Catalog
from baton.store.evaluations import EvaluationRecord
from baton.store.renders import list_renders
from baton.ui.filters import figure_json
from baton.ui.stale import seen_text
from baton.ui.views_models import live_servers
from baton.ui.views_rollouts import model_rollouts
from baton.ui.web import Ctx, Page

DRAWN = 64  # evaluations whose figures are kept drawn


@dataclass(frozen=True)
class DriftView:
    server: str
    reference: bool
    features: list[DriftScoreJSON]
    problem: str | None = None


def ref_of(ctx: Ctx) -> tuple[str, int]:
    name = check_name(str(ctx.request.path_params["name"]))
    text = str(ctx.request.path_params["number"])
    if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise BadInput(f"version must be a whole number from 1, not {text[:20]!r}")
    return name, int(text)


def version(ctx: Ctx) -> Page:
    name, number = ref_of(ctx)
    store = ctx.gov.store
    info = store.registry.resolve(Ref(name, number))
    record = store.evaluations.latest(name, number)
    aliases = Catalog(store.engine).aliases(name)
    steps = ctx.gov.promotions.history(name)
    history = [p for p in steps if p.version == number]
    waiting = {p.target for p in steps if p.state == "pending"}  # one step per target
    state = state_of(number, aliases, ctx.gov.promotions.archived(name))
    return Page(
        "version.html",
        {
            "title": info.ref,
            "info": info,
            "manifest": info.manifest.to_json_dict(),
            "record": record,
            "report": _report_view(ctx, record) if record else None,
            "aliases": aliases,
            "seen": seen_text(aliases),
            "state": state.value,
            "history": history,
            "pending": [p for p in history if p.state == "pending"],
            "targets": [t for t in _targets(state) if t not in waiting],
            "renders": [r for r in list_renders(store.engine, name) if r.version == number],
            "drift": _drift(ctx, name, number),
            "rollouts": [
                r
                for r in model_rollouts(ctx, name)
                if number in (r.to_version, r.from_version, r.baseline_version)
            ],
        },
    )


def _targets(state: State) -> list[str]:
    """Where this version may be asked to go next (the service checks again)."""
    nxt = {
        State.CANDIDATE: [Target.STAGING, Target.ARCHIVED],
        State.STAGING: [Target.PRODUCTION, Target.ARCHIVED],
        State.PRODUCTION: [],
        State.ARCHIVED: [],
    }
    return [t.value for t in nxt[state]]


def _figures(ctx: Ctx, record: EvaluationRecord) -> tuple[Markup, ...]:
    """The report's figures as page-safe JSON; a stored evaluation never changes, so each
    is drawn once per app (building and serialising them is most of the page's time)."""
    from baton.evaluate.report import figures

    drawn = ctx.ui.drawn
    found = drawn.get(record.id)
    if found is None:
        found = tuple(figure_json(f) for f in figures(record.report))
        if len(drawn) >= DRAWN:
            drawn.pop(next(iter(drawn)), None)
        drawn[record.id] = found
    return found


def _report_view(ctx: Ctx, record: EvaluationRecord) -> dict[str, object]:
    from baton.evaluate.report import metric_rows, recommended_rows

    report = record.report
    return {
        "checks": report.checks,
        "verdict": report.verdict,
        "metrics": metric_rows(report),
        "figures": _figures(ctx, record),
        "recommended": (
            recommended_rows(report.recommended, report.int8) if report.recommended else []
        ),
        "profile": report.profile,
        "notes": [*report.notes, *(report.profile.notes if report.profile else [])],
        "error": report.error,
        "tolerance": report.tolerance,
    }


def _drift(ctx: Ctx, name: str, number: int) -> list[DriftView]:
    """Per-feature drift from each running server that serves this version."""
    from baton.monitor.drift_query import query

    out = []
    for server, served in live_servers(ctx).get(name, []):
        if served != number:
            continue
        url = f"http://{server.address}"
        try:
            (found,) = query(name, [url])
        except BatonError as exc:
            out.append(DriftView(server.address, False, [], exc.message))
            continue
        out.append(DriftView(server.address, found.reference, found.features))
    return out

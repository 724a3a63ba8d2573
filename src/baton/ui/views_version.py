"""One version: manifest, claimed against measured, gate checks, charts, profile, drift,
promotions with approvals, renders; and the promotion forms its viewer may send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core.promotion import State, Target, state_of
from baton.core.refs import Ref, check_name
from baton.errors import BadInput, BatonError
from baton.store.catalog import Catalog
from baton.store.renders import list_renders
from baton.ui.stale import seen_text
from baton.ui.views_models import live_servers
from baton.ui.web import Ctx, Page


@dataclass(frozen=True)
class DriftView:
    server: str
    reference: bool
    features: list[dict[str, Any]]
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
    history = [p for p in ctx.gov.promotions.history(name) if p.version == number]
    state = state_of(number, aliases, ctx.gov.promotions.archived(name))
    return Page(
        "version.html",
        {
            "title": info.ref,
            "info": info,
            "manifest": info.manifest.to_json_dict(),
            "record": record,
            "report": _report_view(record.report) if record else None,
            "aliases": aliases,
            "seen": seen_text(aliases),
            "state": state.value,
            "history": history,
            "pending": [p for p in history if p.state == "pending"],
            "targets": _targets(state),
            "renders": [r for r in list_renders(store.engine, name) if r.version == number],
            "drift": _drift(ctx, name, number),
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


def _report_view(report: Any) -> dict[str, object]:
    from baton.evaluate.report import figures, metric_rows, recommended_rows

    return {
        "checks": report.checks,
        "verdict": report.verdict,
        "metrics": metric_rows(report),
        "figures": figures(report),
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

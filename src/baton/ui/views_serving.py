"""Serving and efficiency: recorded servers, their traffic, p99 and errors; the latest
stored right-size audit (totals, each deployment's verdict, recommendation and savings,
most savings first), every stored run, and the savings per run over time."""

from __future__ import annotations

import json

from markupsafe import Markup

from baton.audit.table import money
from baton.core.audit_records import VERDICTS, AuditRun
from baton.errors import BadInput
from baton.monitor.live import traffic
from baton.store.audits import Audits
from baton.store.catalog import Page as Found
from baton.ui.filters import script_json
from baton.ui.web import Ctx, Page

PER_PAGE = 50  # deployments of a run per page
RUNS = 200  # runs listed and drawn
# a verdict's badge: red where capacity is short, green where it fits
BADGES = {"at risk": "failed", "under-provisioned": "failed", "right-sized": "passed"}


def serving(ctx: Ctx) -> Page:
    servers = ctx.gov.store.servers.live()
    prometheus = ctx.ui.config.prometheus_url
    stats = traffic([s.address for s in servers], prometheus)
    stopped = [s for s in ctx.gov.store.servers.all() if not s.live][-20:]
    audits = Audits(ctx.gov.store.engine)
    return Page(
        "serving.html",
        {
            "title": "Serving",
            "servers": servers,
            "stats": stats,
            "prometheus": prometheus,
            "stopped": list(reversed(stopped)),
            **_audit(ctx, audits, audits.latest()),
        },
    )


def audit_run(ctx: Ctx) -> Page:
    """One stored run, as the serving page shows the latest."""
    text = str(ctx.request.path_params["run_id"])
    if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise BadInput(f"an audit run is a whole number from 1, not {text[:20]!r}")
    audits = Audits(ctx.gov.store.engine)
    run = audits.get(int(text))
    return Page("serving.html", {"title": f"Audit run {run.id}", "servers": None,
                                 **_audit(ctx, audits, run)})  # fmt: skip


def _audit(ctx: Ctx, audits: Audits, run: AuditRun | None) -> dict[str, object]:
    verdict = ctx.arg("verdict")
    if verdict is not None and verdict not in VERDICTS:
        raise BadInput(f"verdict {verdict[:40]!r}: choose one of {', '.join(VERDICTS)}")
    page = ctx.number("page")
    runs = audits.runs(RUNS)
    found = None
    if run is not None:
        total = run.by_verdict.get(verdict, 0) if verdict else run.deployments
        lines = audits.deployments(run.id, verdict=verdict, limit=PER_PAGE,
                                   offset=(page - 1) * PER_PAGE)  # fmt: skip
        found = Found(lines, total, page, PER_PAGE)
    return {
        "run": run,
        "found": found,
        "filters": {"verdict": verdict},
        "verdicts": VERDICTS,
        "badges": BADGES,
        "money": money,
        "runs": runs,
        "savings_chart": _savings_chart(runs) if runs else None,
    }


def _savings_chart(runs: list[AuditRun]) -> Markup:
    """Savings per month found by each run, oldest first: a figure for the packaged Plotly
    (built as plain JSON: no figure object to validate on every page view)."""
    oldest_first = list(reversed(runs))
    currency = oldest_first[-1].currency
    figure = {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "savings per month",
                "x": [r.at.isoformat() for r in oldest_first],
                "y": [round(r.savings, 2) for r in oldest_first],
                "text": [f"run {r.id}: {r.deployments} deployment(s)" for r in oldest_first],
                "hovertemplate": "%{text}<br>%{y:,.2f} " + currency + "<extra></extra>",
            }
        ],
        "layout": {
            "title": {"text": f"Savings per month found by each audit run ({currency})"},
            "xaxis": {"title": {"text": "run"}},
            "yaxis": {"title": {"text": f"{currency} per month"}, "rangemode": "tozero"},
            "height": 320,
            "margin": {"l": 70, "r": 20, "t": 50, "b": 50},
        },
    }
    return script_json(json.dumps(figure))

"""Serving and efficiency: recorded servers, their traffic, p99 and errors."""

from __future__ import annotations

from baton.monitor.live import traffic
from baton.ui.web import Ctx, Page


def serving(ctx: Ctx) -> Page:
    servers = ctx.gov.store.servers.live()
    prometheus = ctx.ui.config.prometheus_url
    stats = traffic([s.address for s in servers], prometheus)
    stopped = [s for s in ctx.gov.store.servers.all() if not s.live][-20:]
    return Page(
        "serving.html",
        {
            "title": "Serving",
            "servers": servers,
            "stats": stats,
            "prometheus": prometheus,
            "stopped": list(reversed(stopped)),
        },
    )

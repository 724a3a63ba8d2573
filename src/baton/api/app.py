"""The control-plane application: built around one store, nothing global.

``create_app(store)`` is what tests and ``baton api`` run; two apps over two stores can
live in one process. ``api/guard.py`` stands in front of every route: it authenticates and
bounds the body before FastAPI reads a byte of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from baton import __version__
from baton.api import (
    audit_routes,
    docs,
    errors,
    ownership_routes,
    registry_routes,
    rollout_routes,
)
from baton.api.guard import Guard
from baton.config import DEFAULT_API_MAX_BODY, Settings
from baton.store.governance import Governance
from baton.store.store import Store
from baton.ui import app as ui_app
from baton.ui.headers import SecurityHeaders
from baton.ui.web import UiConfig

HEALTH = "/v1/health"


def create_app(
    store: Store,
    *,
    max_body: int = DEFAULT_API_MAX_BODY,
    ui: UiConfig | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """The API, its offline Swagger UI at /docs, and the dashboard at /ui (same services).

    ``settings`` (the store's, as ``baton api`` reads them) let the rollout routes start
    processes under its BATON_HOME; without them those routes answer 503."""
    gov = Governance.of(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await anyio.to_thread.run_sync(gov.people.refusals.flush)  # counts left unreported

    app = FastAPI(
        title="baton control plane",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served offline by api/docs.py
        redoc_url=None,
        description=(
            "Registry, evaluations, aliases, promotion, approvals, owners (R&R), requests, "
            "deployments and canary rollouts, and the audit log. Every route but /v1/health "
            "needs `Authorization: Bearer <token>`: 401 without a valid token (checked "
            "before the body is read), 403 "
            "(with `who_can`) when your teams may not act, 413 for a body over the limit "
            f"({max_body} bytes unless BATON_API_MAX_BODY says otherwise)."
        ),
    )
    app.state.gov = gov
    app.state.settings = settings
    errors.install(app)
    app.include_router(registry_routes.router)
    app.include_router(ownership_routes.router)
    app.include_router(rollout_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(docs.router)
    ui_app.mount(app, gov, ui)
    open_paths = [HEALTH, docs.DOCS, *(p for p in (app.openapi_url,) if p)]
    app.add_middleware(
        Guard,
        gov=gov,
        max_body=max_body,
        open_paths=open_paths,
        own_auth=(ui_app.PREFIX, docs.ASSETS),
    )
    app.add_middleware(SecurityHeaders, prefixes=(docs.DOCS,))  # /ui adds its own
    return app

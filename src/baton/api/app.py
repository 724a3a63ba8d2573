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
from baton.api import errors, ownership_routes, registry_routes
from baton.api.guard import Guard
from baton.config import DEFAULT_API_MAX_BODY
from baton.store.governance import Governance
from baton.store.store import Store

HEALTH = "/v1/health"


def create_app(store: Store, *, max_body: int = DEFAULT_API_MAX_BODY) -> FastAPI:
    gov = Governance.of(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await anyio.to_thread.run_sync(gov.people.refusals.flush)  # counts left unreported

    app = FastAPI(
        title="baton control plane",
        version=__version__,
        lifespan=lifespan,
        description=(
            "Registry, evaluations, aliases, promotion, approvals, owners (R&R), requests "
            "and the audit log. Every route but /v1/health needs `Authorization: Bearer "
            "<token>`: 401 without a valid token (checked before the body is read), 403 "
            "(with `who_can`) when your teams may not act, 413 for a body over the limit "
            f"({max_body} bytes unless BATON_API_MAX_BODY says otherwise)."
        ),
    )
    app.state.gov = gov
    errors.install(app)
    app.include_router(registry_routes.router)
    app.include_router(ownership_routes.router)
    open_paths = [HEALTH, *(p for p in (app.openapi_url, app.docs_url, app.redoc_url) if p)]
    if app.docs_url:
        open_paths.append(f"{app.docs_url}/oauth2-redirect")
    app.add_middleware(Guard, gov=gov, max_body=max_body, open_paths=open_paths)
    return app

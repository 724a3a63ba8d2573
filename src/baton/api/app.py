"""The control-plane application: built around one store, nothing global.

``create_app(store)`` is what tests and ``baton api`` run; two apps over two stores can
live in one process.
"""

from __future__ import annotations

from fastapi import FastAPI

from baton import __version__
from baton.api import errors, ownership_routes, registry_routes
from baton.store.governance import Governance
from baton.store.store import Store


def create_app(store: Store) -> FastAPI:
    app = FastAPI(
        title="baton control plane",
        version=__version__,
        description=(
            "Registry, evaluations, aliases, promotion, approvals, owners (R&R), requests "
            "and the audit log. Every route but /v1/health needs `Authorization: Bearer "
            "<token>`: 401 without a valid token, 403 (with `who_can`) when your teams may "
            "not act."
        ),
    )
    app.state.gov = Governance.of(store)
    errors.install(app)
    app.include_router(registry_routes.router)
    app.include_router(ownership_routes.router)
    return app

"""The dashboard as an ASGI app: ``create_ui(gov, config)``, mounted at ``/ui``.

``baton api`` mounts it beside the API; ``baton ui`` serves it alone. Either way the pages
call the same services (``Governance``, the store's registry and catalogue, the exporter
hub) as the CLI and the API, so what a page shows is what ``baton`` prints.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from baton.errors import NotFound
from baton.store.governance import Governance
from baton.ui import (
    assets,
    views_actions,
    views_hub,
    views_models,
    views_ownership,
    views_rollouts,
    views_serving,
    views_signin,
    views_version,
)
from baton.ui.headers import SecurityHeaders
from baton.ui.web import Ctx, Page, Ui, UiConfig

PREFIX = "/ui"
_STATIC_CACHE = {"Cache-Control": "public, max-age=3600"}


def _static(request: Request) -> Response:
    name = str(request.path_params["name"])
    if name == "plotly.min.js":
        return FileResponse(assets.plotly_js(), media_type=assets.TYPES[".js"],
                            headers=_STATIC_CACHE)  # fmt: skip
    if name == "plotly.css":
        return Response(assets.plotly_css(), media_type=assets.TYPES[".css"],
                        headers=_STATIC_CACHE)  # fmt: skip
    try:
        path = assets.static_file(name)
    except NotFound:
        return Response("no such file", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type=assets.TYPES.get(path.suffix), headers=_STATIC_CACHE)


def _not_found(ctx: Ctx) -> Page:
    raise NotFound(f"no page at {ctx.request.url.path[:200]}: start from the models page")


def create_ui(gov: Governance, config: UiConfig | None = None) -> Starlette:
    ui = Ui(gov, config or UiConfig())
    page, action = ui.page, ui.action
    routes = [
        Route("/", page(views_models.models)),
        Route("/models/{name}", page(views_models.model)),
        Route("/models/{name}/versions/{number}", page(views_version.version)),
        Route("/models/{name}/versions/{number}/promote", action(views_actions.promote),
              methods=["POST"]),
        Route("/models/{name}/versions/{number}/approve", action(views_actions.approve),
              methods=["POST"]),
        Route("/models/{name}/versions/{number}/cancel", action(views_actions.cancel),
              methods=["POST"]),
        Route("/models/{name}/rollback", action(views_actions.rollback), methods=["POST"]),
        Route("/models/{name}/rollouts/{rollout_id}", page(views_rollouts.rollout)),
        Route("/models/{name}/rollouts/{rollout_id}/{action}", action(views_rollouts.steer),
              methods=["POST"]),
        Route("/ownership", page(views_ownership.ownership)),
        Route("/requests", page(views_ownership.requests)),
        Route("/requests/{request_id}/close", action(views_actions.close_request),
              methods=["POST"]),
        Route("/requests/{request_id}/delegate", action(views_actions.delegate_request),
              methods=["POST"]),
        Route("/requests/{request_id}/assign", action(views_actions.assign_request),
              methods=["POST"]),
        Route("/audit", page(views_ownership.audit)),
        Route("/serving", page(views_serving.serving)),
        Route("/serving/audits/{run_id}", page(views_serving.audit_run)),
        Route("/exporters", page(views_hub.catalogue)),
        Route("/exporters/{name}", page(views_hub.exporter)),
        Route("/exporters/{name}/download", page(views_hub.download)),
        Route("/signin", page(views_signin.form, public=True)),
        Route("/signin", action(views_signin.sign_in, public=True), methods=["POST"]),
        Route("/signout", action(views_signin.sign_out, public=True), methods=["POST"]),
        Route("/static/{name}", _static),
        Route("/{rest:path}", page(_not_found, public=True)),
    ]  # fmt: skip
    app = Starlette(routes=routes)
    app.state.ui = ui
    return app


def mount(app: Starlette, gov: Governance, config: UiConfig | None = None) -> None:
    """Put the dashboard under ``/ui`` of ``app`` (with its security headers)."""
    app.router.routes.append(Mount(PREFIX, app=SecurityHeaders(create_ui(gov, config))))


def standalone(gov: Governance, config: UiConfig | None = None) -> Starlette:
    """``baton ui``: the dashboard under ``/ui``, and ``/`` leading there."""

    def home(_request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app = Starlette(routes=[Route("/", home)])
    mount(app, gov, config)
    return app

"""``/docs``: Swagger UI from the installed ``swagger-ui-bundle-v2`` package, no CDN.

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script,
so it is blank on an air-gapped host and needs ``unsafe-inline``. This page loads the
packaged files from this server and starts them from a packaged script.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from baton.ui.assets import STATIC, TYPES, swagger_dir

DOCS = "/docs"
ASSETS = f"{DOCS}/static"
_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>baton control plane · API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
</head><body><main id="swagger-ui" data-openapi="/openapi.json"></main>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/docs.js"></script>
</body></html>
"""

router = APIRouter(include_in_schema=False)


@router.get(DOCS)
def docs() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-store"})


@router.get(f"{ASSETS}/{{name}}")
def asset(name: str) -> Response:
    if name == "docs.js":
        path = STATIC / "docs.js"
    elif name in _FILES:
        path = swagger_dir() / name
    else:
        return Response("no such file", status_code=404, media_type="text/plain")
    return FileResponse(
        path, media_type=TYPES.get(path.suffix), headers={"Cache-Control": "public, max-age=3600"}
    )

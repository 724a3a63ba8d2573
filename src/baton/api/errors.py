"""Errors at the HTTP edge: one table from error kind to status, one JSON shape.

Bodies are ``{"error": "...", "kind": "..."}``; a refusal by the R&R matrix adds
``who_can`` (the teams that may do it), so a client can tell its user whom to ask.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from baton.core.roles import NotPermitted
from baton.errors import HTTP_STATUS, BatonError, Kind

STATUS = HTTP_STATUS  # the dashboard's too (baton/errors.py)
KIND_OF_STATUS = {status: kind for kind, status in STATUS.items()}


def error_body(exc: BatonError) -> dict[str, object]:
    body: dict[str, object] = {"error": exc.message, "kind": exc.kind.value}
    if isinstance(exc, NotPermitted):
        body["who_can"] = list(exc.who_can)
    return body


def _baton_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BatonError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.kind is Kind.UNAUTHORIZED else None
    return JSONResponse(error_body(exc), status_code=STATUS[exc.kind], headers=headers)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    message = "; ".join(problems) or "the request is not valid"
    return JSONResponse({"error": message, "kind": Kind.BAD_INPUT.value}, status_code=400)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (unparseable body, unknown route, wrong method) in our shape."""
    assert isinstance(exc, StarletteHTTPException)
    kind = KIND_OF_STATUS.get(exc.status_code, Kind.BAD_INPUT)
    message = str(exc.detail)
    if exc.status_code == 400 and "parsing the body" in message:
        message = "the request body is not valid JSON: send a JSON object"
    return JSONResponse(
        {"error": message, "kind": kind.value}, status_code=exc.status_code, headers=exc.headers
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(BatonError, _baton_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

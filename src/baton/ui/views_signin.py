"""Sign in with a baton token (exchanged for a session cookie) and sign out."""

from __future__ import annotations

from starlette.responses import Response

from baton.store.people import SignInFailed
from baton.ui.session import COOKIE
from baton.ui.web import Ctx, Page, redirect


def _next(ctx: Ctx, wanted: str | None) -> str:
    """Where to go after signing in: a page of this dashboard, else its start."""
    home = f"{ctx.root}/"
    if not wanted or not wanted.startswith(home) or wanted.startswith("//") or "\\" in wanted:
        return home
    return wanted


def form(ctx: Ctx) -> Page:
    return Page(
        "signin.html", {"title": "Sign in", "message": None, "next": _next(ctx, ctx.arg("next"))}
    )


def sign_in(ctx: Ctx) -> Response | Page:
    token = ctx.field("token", required=False)
    target = _next(ctx, ctx.field("next", required=False))
    try:
        person = ctx.gov.people.authenticate(token)
    except SignInFailed as exc:
        source = ctx.request.client.host if ctx.request.client else "unknown"
        ctx.gov.people.refusals.sign_in_failed(source, exc.why, exc.token_id)
        message = exc.message if token else "paste your token: `baton token new USER` prints one"
        return Page("signin.html", {"title": "Sign in", "message": message, "next": target}, 401)
    token_id = token[len("bt_") :].partition("_")[0]
    value, _session = ctx.ui.sessions.issue(person.name, token_id)
    response = redirect(target)
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(ctx.ui.sessions.ttl_s),
        path=ctx.root or "/",
        httponly=True,
        samesite="strict",
        secure=ctx.ui.config.secure_cookie,
    )
    return response


def sign_out(ctx: Ctx) -> Response:
    response = redirect(f"{ctx.root}/signin")
    response.delete_cookie(COOKIE, path=ctx.root or "/", httponly=True, samesite="strict")
    return response

"""The dashboard's actions: the same service calls as ``baton promote`` and the API.

Each form carries what its page showed (where the stage aliases pointed, which step was
pending); if that moved since, the form is refused with what changed and nothing is done.
The services then apply the R&R matrix and write the audit entry, as for the CLI.
"""

from __future__ import annotations

from starlette.responses import Response

from baton.errors import BadInput, Conflict
from baton.store.approvals import PromotionInfo, parse_target
from baton.ui.stale import check_fresh
from baton.ui.views_version import ref_of
from baton.ui.web import Ctx, redirect


def _pending(ctx: Ctx, name: str, number: int, target: str) -> PromotionInfo:
    """The pending step the form was about; refused if another took its place."""
    step = ctx.field("step")
    now = next(
        (p for p in ctx.gov.promotions.history(name, pending_only=True) if p.target == target),
        None,
    )
    if now is None or str(now.id) != step or now.version != number:
        what = f"{name}:{now.version} (step {now.id})" if now else "nothing"
        raise Conflict(
            f"the {target} step this form was about (step {step}) is no longer pending; "
            f"waiting now: {what}. Nothing was done: look at the page again"
        )
    return now


def _version_page(ctx: Ctx, name: str, number: int, done: str) -> Response:
    return redirect(f"{ctx.root}/models/{name}/versions/{number}?done={done}")


def promote(ctx: Ctx) -> Response:
    name, number = ref_of(ctx)
    target = parse_target(ctx.field("to"))
    check_fresh(ctx, name)
    assert ctx.me is not None
    ctx.gov.promotions.promote(name, number, target, ctx.me, ctx.field("why"))
    return _version_page(ctx, name, number, "requested")


def approve(ctx: Ctx) -> Response:
    name, number = ref_of(ctx)
    target = parse_target(ctx.field("to"))
    check_fresh(ctx, name)
    _pending(ctx, name, number, target.value)
    assert ctx.me is not None
    step = ctx.gov.promotions.approve(name, number, target, ctx.me, ctx.field("why"))
    return _version_page(ctx, name, number, "applied" if step.state == "applied" else "approved")


def cancel(ctx: Ctx) -> Response:
    name, number = ref_of(ctx)
    target = parse_target(ctx.field("to"))
    check_fresh(ctx, name)
    _pending(ctx, name, number, target.value)
    assert ctx.me is not None
    ctx.gov.promotions.cancel(name, number, target, ctx.me, ctx.field("why"))
    return _version_page(ctx, name, number, "cancelled")


def rollback(ctx: Ctx) -> Response:
    from baton.core.refs import check_name

    name = check_name(str(ctx.request.path_params["name"]))
    check_fresh(ctx, name)
    assert ctx.me is not None
    ctx.gov.promotions.rollback(name, ctx.me, ctx.field("why"))
    return redirect(f"{ctx.root}/models/{name}?done=rolled-back")


def _request_id(ctx: Ctx) -> int:
    text = str(ctx.request.path_params["request_id"])
    if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise BadInput(f"request must be a whole number from 1, not {text[:20]!r}")
    return int(text)


def _check_team(ctx: Ctx, request_id: int) -> str:
    """Refuse if the request moved to another team since the inbox was shown."""
    seen = ctx.field("seen", required=False)
    now = ctx.gov.requests.get(request_id)
    if seen and seen != now.team:
        raise Conflict(
            f"request #{request_id} was passed from team {seen} to team {now.team} since this "
            "page was shown, so nothing was done: look at the inbox again"
        )
    return now.team


def close_request(ctx: Ctx) -> Response:
    request_id = _request_id(ctx)
    team = _check_team(ctx, request_id)
    assert ctx.me is not None
    ctx.gov.requests.close(request_id, ctx.me, ctx.field("why"))
    return redirect(f"{ctx.root}/requests?team={team}&done=closed")


def delegate_request(ctx: Ctx) -> Response:
    request_id = _request_id(ctx)
    team = _check_team(ctx, request_id)
    assert ctx.me is not None
    ctx.gov.requests.delegate(request_id, ctx.field("to"), ctx.me, ctx.field("why"))
    return redirect(f"{ctx.root}/requests?team={team}&done=delegated")


def assign_request(ctx: Ctx) -> Response:
    request_id = _request_id(ctx)
    team = _check_team(ctx, request_id)
    assert ctx.me is not None
    ctx.gov.requests.assign(request_id, ctx.field("to"), ctx.me, ctx.field("why"))
    return redirect(f"{ctx.root}/requests?team={team}&done=assigned")

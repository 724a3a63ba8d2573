"""The dashboard's plumbing: who is signed in, templates, form tokens, errors as pages.

Pages are sync functions from a ``Ctx`` (the request, the signed-in person, the services)
to a ``Page`` (a template and its values); ``page()`` and ``action()`` wrap them into
endpoints that check the session (and for actions the form token), run the work off the
event loop, and turn a ``BatonError`` into the error page with the status its kind means.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from baton.config import Settings
from baton.core.roles import NotPermitted
from baton.errors import HTTP_STATUS, BadInput, BatonError, Forbidden, Kind, Unauthorized
from baton.store.governance import Governance
from baton.store.people import Person, SignInFailed
from baton.ui.csrf import ANONYMOUS, FormTokens
from baton.ui.session import COOKIE, Session, Sessions

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM = 64 * 1024  # the largest form body read (a reason is at most 4,000 characters)
MAX_FIELD = 4000


@dataclass(frozen=True)
class UiConfig:
    """How the dashboard runs: where Prometheus is (None: read each server's /metrics),
    the secret that signs sessions and form tokens, and how long a session lasts."""

    prometheus_url: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    session_hours: float = 8.0
    secure_cookie: bool = False  # mark the cookie Secure (serve behind HTTPS)
    drift_timeout_s: float = 2.0
    # where a canary's controller is spawned from (BATON_HOME, the store): None reads the
    # environment, as ``baton canary`` does
    settings: Settings | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> UiConfig:
        """Prometheus only when BATON_PROMETHEUS_URL is set: its default address may have
        nothing behind it, and then each server's own /metrics says more."""
        configured = "prometheus_url" in settings.model_fields_set
        return cls(
            prometheus_url=settings.prometheus_url if configured else None, settings=settings
        )


@dataclass(frozen=True)
class Page:
    template: str
    values: Mapping[str, object]
    status: int = 200


@dataclass
class Ctx:
    """One request as a page sees it."""

    request: Request
    ui: Ui
    me: Person | None
    session: Session | None
    form: dict[str, str] = field(default_factory=dict)
    ended: str | None = None  # why a session the request carried no longer counts

    @property
    def gov(self) -> Governance:
        return self.ui.gov

    @property
    def root(self) -> str:
        return str(self.request.scope.get("root_path", ""))

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query parameter, stripped; empty counts as absent."""
        value = self.request.query_params.get(name, "").strip()
        if len(value) > 200:
            raise BadInput(f"{name} is too long (200 characters at most)")
        return value or default

    def number(self, name: str, default: int = 1) -> int:
        text = self.arg(name)
        if text is None:
            return default
        if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
            raise BadInput(f"{name} must be a whole number from 1, not {text[:20]!r}")
        return int(text)

    def field(self, name: str, *, required: bool = True) -> str:
        value = self.form.get(name, "").strip()
        if required and not value:
            raise BadInput(f"the form needs {name.replace('_', ' ')}: fill it in and send again")
        return value


Work = Callable[[Ctx], Page | Response]


class Ui:
    def __init__(self, gov: Governance, config: UiConfig) -> None:
        self.gov = gov
        self.config = config
        self.sessions = Sessions(config.secret, config.session_hours * 3600)
        self.forms = FormTokens(config.secret)
        self.drawn: dict[int, tuple[Markup, ...]] = {}  # evaluation id -> its figures' JSON
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        from baton.ui import filters

        filters.install(self.env)

    # -- identity ---------------------------------------------------------------------------

    def signed_in(self, request: Request) -> Ctx:
        """The request with the person of its session, if it has a valid one whose token
        stands (else with why the session it carried ended)."""
        ctx = Ctx(request, self, None, None)
        session = self.sessions.read(request.cookies.get(COOKIE))
        if session is None:
            return ctx
        try:
            person = self.gov.people.holder(session.token_id)
        except SignInFailed as exc:
            self._sign_in_failed(request, exc)
            ctx.ended = exc.message
            return ctx
        if person.name == session.person:
            ctx.me, ctx.session = person, session
        return ctx

    def _sign_in_failed(self, request: Request, exc: SignInFailed) -> None:
        source = request.client.host if request.client else "unknown"
        self.gov.people.refusals.sign_in_failed(source, exc.why, exc.token_id)

    # -- rendering --------------------------------------------------------------------------

    def render(self, ctx: Ctx, page: Page) -> HTMLResponse:
        sid = ctx.session.sid if ctx.session else ANONYMOUS

        def form_token(path: str) -> str:
            return self.forms.issue(sid, path)

        template = self.env.get_template(page.template)
        html = template.render(
            **page.values,
            me=ctx.me,
            root=ctx.root,
            form_token=form_token,
            path=_path(ctx),
            done=ctx.request.query_params.get("done", ""),
        )
        headers = {"Cache-Control": "no-store"}
        return HTMLResponse(html, status_code=page.status, headers=headers)

    def error(self, ctx: Ctx, exc: BatonError) -> HTMLResponse:
        status = HTTP_STATUS[exc.kind]  # the API's table: one status per kind
        who_can = list(exc.who_can) if isinstance(exc, NotPermitted) else []
        page = Page(
            "error.html",
            {"title": _TITLES.get(exc.kind, "Refused"), "message": exc.message,
             "kind": exc.kind.value, "who_can": who_can, "back": _back(ctx)},
            status,
        )  # fmt: skip
        if exc.kind is Kind.UNAUTHORIZED:
            page = Page("signin.html", {"title": "Sign in", "message": exc.message,
                                        "next": _path(ctx)}, status)  # fmt: skip
        return self.render(ctx, page)

    # -- endpoints --------------------------------------------------------------------------

    def page(self, work: Work, *, public: bool = False) -> Callable[[Request], Awaitable[Response]]:
        """A GET endpoint: signed in (unless ``public``), the work off the event loop."""

        async def endpoint(request: Request) -> Response:
            ctx = await anyio.to_thread.run_sync(self.signed_in, request)
            return await anyio.to_thread.run_sync(self._run, ctx, work, public)

        return endpoint

    def action(
        self, work: Work, *, public: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """A POST endpoint: same origin, a form token good for this session and path, once."""

        async def endpoint(request: Request) -> Response:
            ctx = await anyio.to_thread.run_sync(self.signed_in, request)
            try:
                _same_origin(request)
                ctx.form = await read_form(request)
            except BatonError as exc:
                return self.error(ctx, exc)
            return await anyio.to_thread.run_sync(self._run_action, ctx, work, public)

        return endpoint

    def _run(self, ctx: Ctx, work: Work, public: bool) -> Response:
        try:
            if ctx.me is None and not public:
                raise Unauthorized(ctx.ended or "sign in with your baton token to see this page")
            done = work(ctx)
        except BatonError as exc:
            return self.error(ctx, exc)
        return done if isinstance(done, Response) else self.render(ctx, done)

    def _run_action(self, ctx: Ctx, work: Work, public: bool) -> Response:
        try:
            if ctx.me is None and not public:
                raise Unauthorized(
                    ctx.ended or "your session has ended: sign in again, then send the form"
                )
            sid = ctx.session.sid if ctx.session else ANONYMOUS
            self.forms.spend(ctx.form.get("form_token"), sid, ctx.request.url.path)
        except BatonError as exc:
            return self.error(ctx, exc)
        return self._run(ctx, work, public)


_TITLES = {
    Kind.BAD_INPUT: "Not sent: check the form",
    Kind.FORBIDDEN: "Not allowed",
    Kind.NOT_FOUND: "Not found",
    Kind.CONFLICT: "Changed since you looked",
    Kind.FAILED_CHECK: "A check said no",
    Kind.UNAVAILABLE: "Unavailable",
    Kind.CORRUPT: "Stored data is damaged",
}


def _path(ctx: Ctx) -> str:
    url = ctx.request.url
    return url.path + (f"?{url.query}" if url.query else "")


def _back(ctx: Ctx) -> str:
    """Where "back" leads: the page the form was on (same origin only), else the start."""
    referer = ctx.request.headers.get("referer", "")
    parts = urlsplit(referer)
    if referer and parts.netloc == ctx.request.url.netloc and parts.path.startswith(ctx.root):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{ctx.root}/"


def _same_origin(request: Request) -> None:
    """Browsers send Origin with every POST; one from another site is refused."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser (the form token still has to fit)
        return
    if origin == "null" or urlsplit(origin).netloc != request.url.netloc:
        raise Forbidden(f"this form was sent from another site ({origin[:80]}): refused")


async def read_form(request: Request) -> dict[str, str]:
    """An url-encoded form, at most ``MAX_FORM`` bytes; each field once."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadInput("send the form as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM:
        raise BadInput(f"the form is over {MAX_FORM // 1024} KiB: send less")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise BadInput(f"the form is over {MAX_FORM // 1024} KiB: send less")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadInput("the form is not UTF-8") from None
    out = {}
    for name, values in fields.items():
        if len(values) != 1:
            raise BadInput(f"the form sends {name} more than once")
        if len(values[0]) > MAX_FIELD or "\x00" in values[0]:
            raise BadInput(f"{name} is too long ({MAX_FIELD} characters at most) or has NUL")
        out[name] = values[0]
    return out


def redirect(to: str) -> RedirectResponse:
    """After an action: back to a page with a GET (303), so a reload sends nothing again."""
    return RedirectResponse(to, status_code=303, headers={"Cache-Control": "no-store"})

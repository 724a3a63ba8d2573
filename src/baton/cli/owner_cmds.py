"""``baton team | user | token | whoami | owners | promote | approve | rollback | promotions |
request | requests | api``: ownership, promotion and the control plane.

Every command goes through ``State.control``: the local store as BATON_USER, or the
control plane at BATON_URL as the owner of BATON_TOKEN, with the same output.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from baton.cli.output import cells, console, print_json, print_listing, safe, when
from baton.cli.promotions_view import print_promotions
from baton.cli.state import state
from baton.core.promotion import Target
from baton.core.refs import Ref, parse_ref
from baton.core.roles import Stage, letters
from baton.errors import BadInput, Unavailable

if TYPE_CHECKING:  # the store is imported by the commands that use it, not at start-up
    from baton.store.approvals import PromotionInfo
    from baton.store.ownership import Owners
    from baton.store.people import Issued
    from baton.store.requests import RequestInfo

JSON = typer.Option(False, "--json", help="print JSON for scripts")
WHY = typer.Option(None, "--why", help="reason, kept in the audit log")
team_app = typer.Typer(help="Teams: who owns and runs models.", no_args_is_help=True)
user_app = typer.Typer(help="People, their teams and their first token.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: shown once, stored hashed.", no_args_is_help=True)


# -- teams, people, tokens --------------------------------------------------------------------


@team_app.command("add")
def team_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="team name"),
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """Create a team (admins; anyone while the store has no people yet)."""
    team = state(ctx).control.add_team(name, why)
    if json_out:
        print_json(team)
        return
    console.print(f"[green]team {safe(team.name)}[/] created")


@team_app.command("list")
def team_list(ctx: typer.Context, json_out: bool = JSON) -> None:
    """Teams and their members."""
    print_listing(
        state(ctx).control.teams(),
        json_out,
        headers=("team", "members", "created"),
        row=lambda t: (t.name, ", ".join(t.members) or "-", when(t.created_at)),
    )


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="user name (what BATON_USER says locally)"),
    team: list[str] = typer.Option([], "--team", help="team to join; repeat for several"),
    admin: bool = typer.Option(False, "--admin", help="may manage teams, people and tokens"),
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """Add a person to teams and print their API token, once."""
    added = state(ctx).control.add_user(name, team, admin, why)
    if json_out:
        print_json(added)
        return
    u = added.user
    role = " (admin)" if u.admin else ""
    console.print(f"[green]user {safe(u.name)}[/]{role} in {safe(', '.join(u.teams))}")
    _print_token(added.token)


def _print_token(issued: Issued) -> None:
    console.print(
        f"token {safe(issued.public_id)} for {safe(issued.person)}; shown this once, store it "
        f"now:\n  export BATON_TOKEN={safe(issued.token)}",
        soft_wrap=True,
    )


@user_app.command("join")
def user_join(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="user name"),
    team: str = typer.Option(..., "--team", help="team to join"),
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """Add a person to a team (admins); their roles follow the team's."""
    person = state(ctx).control.set_membership(name, team, True, why)
    if json_out:
        print_json(person)
        return
    console.print(f"[green]{safe(person.name)}[/] now in {safe(', '.join(person.teams))}")


@user_app.command("leave")
def user_leave(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="user name"),
    team: str = typer.Option(..., "--team", help="team to leave"),
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """Take a person off a team (admins); revoke their tokens too if they leave baton."""
    person = state(ctx).control.set_membership(name, team, False, why)
    if json_out:
        print_json(person)
        return
    teams = ", ".join(person.teams) or "no team"
    console.print(f"[green]{safe(person.name)}[/] now in {safe(teams)}")


@user_app.command("list")
def user_list(ctx: typer.Context, json_out: bool = JSON) -> None:
    """People and their teams."""
    print_listing(
        state(ctx).control.people(),
        json_out,
        headers=("user", "teams", "admin"),
        row=lambda p: (p.name, ", ".join(p.teams), "yes" if p.admin else ""),
    )


@token_app.command("new")
def token_new(
    ctx: typer.Context,
    user: str | None = typer.Argument(None, help="whose token (default: you)"),
    json_out: bool = JSON,
) -> None:
    """Issue a token (for yourself, or for anyone if you are an admin); shown once."""
    control = state(ctx).control
    issued = control.issue_token(user or control.whoami().name)
    if json_out:
        print_json(issued)
        return
    _print_token(issued)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    public_id: str = typer.Argument(..., help="the token id (`baton token list`)"),
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """Revoke a token at once (yours, or anyone's if you are an admin)."""
    info = state(ctx).control.revoke_token(public_id, why)
    if json_out:
        print_json(info)
        return
    console.print(f"[green]revoked[/] token {safe(info.public_id)} of {safe(info.person)}")


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    user: str | None = typer.Option(None, "--user", help="only this person's"),
    json_out: bool = JSON,
) -> None:
    """Token ids and whether they are revoked; never the tokens themselves."""
    print_listing(
        state(ctx).control.tokens(user),
        json_out,
        headers=("id", "user", "issued", "by", "revoked"),
        row=lambda t: (
            t.public_id, t.person, when(t.created_at), t.created_by,
            when(t.revoked_at) if t.revoked_at else "",
        ),
    )  # fmt: skip


def whoami(ctx: typer.Context, json_out: bool = JSON) -> None:
    """Who baton thinks you are, your teams, and where you are connected."""
    s = state(ctx)
    me = s.control.whoami()
    where = s.settings.url or "local store"
    if json_out:
        print_json({"user": me, "via": where})
        return
    if not me.registered:
        console.print(
            f"{safe(me.name)} (not registered; the store has no people yet: `baton user add "
            f"{safe(me.name)} --team TEAM` makes you its first admin)  via {safe(where)}"
        )
        return
    admin = "  admin" if me.admin else ""
    teams = ", ".join(me.teams) or "-"
    console.print(f"{safe(me.name)}  teams {safe(teams)}{admin}  via {safe(where)}")


# -- owners -----------------------------------------------------------------------------------


def owners(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="model (default: the site-wide matrix)"),
    set_file: Path | None = typer.Option(None, "--set", help="roles.yaml to put in force"),
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """Print the R&R matrix (stages x teams, R/A/C/I) for a model, or set it from roles.yaml."""
    control = state(ctx).control
    model = parse_ref(name).name if name else None
    if set_file is not None:
        result = control.set_roles(model, _read_yaml(set_file), why)
    else:
        result = control.owners(model)
    if json_out:
        print_json(result.document())
        return
    _print_owners(result)


def _read_yaml(path: Path) -> Any:
    import yaml

    from baton.yaml_files import YamlLimits, load_yaml

    try:
        return load_yaml(path.read_text(encoding="utf-8"), str(path), YamlLimits())
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None


def _print_owners(o: Owners) -> None:
    if o.model == "*":
        console.print(
            f"site-wide roles (from {safe(o.source)}); {{owner}} is each model's owner team"
        )
    else:
        console.print(
            f"[bold]{safe(o.model)}[/]  owner {safe(o.owner)}  roles from {safe(o.source)}"
        )
    teams: list[str] = []
    for stage in Stage:
        teams += [t for t in o.matrix.stages[stage] if t not in teams]
    table = Table("stage", *(safe(t) for t in teams))
    for stage in Stage:
        row = o.matrix.stages[stage]
        table.add_row(*cells(stage.value, *(letters(row.get(t, ())) or "-" for t in teams)))
    console.print(table)
    policy = "may" if o.matrix.policy.self_approval else "may not"
    console.print(
        "R responsible, A accountable, C consulted, I informed. "
        f"Requesters {policy} approve their own promotions."
    )
    for team in o.missing_teams:
        console.print(
            f"[yellow]team {safe(team)} does not exist yet:[/] `baton team add {safe(team)}`"
        )


# -- promotion --------------------------------------------------------------------------------


def _version_ref(text: str) -> Ref:
    ref = parse_ref(text)
    if ref.version is None:
        raise BadInput(f"name the version: NAME:VERSION, as in {ref.name}:3")
    return ref


def promote(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION"),
    to: str = typer.Option(..., "--to", help="staging, production or archived"),
    why: str | None = WHY,
    cancel: bool = typer.Option(False, "--cancel", help="withdraw the pending step instead"),
    via: str | None = typer.Option(
        None,
        "--via",
        help="canary: once approved, `baton canary start` applies it step by step (production)",
    ),
    json_out: bool = JSON,
) -> None:
    """Ask for a version to move on; it waits for the accountable teams' approvals."""
    from baton.store.approvals import parse_target

    parsed, target = _version_ref(ref), parse_target(to)
    control = state(ctx).control
    assert parsed.version is not None
    if cancel:
        result = control.cancel(parsed.name, parsed.version, target, why)
    else:
        result = control.promote(parsed.name, parsed.version, target, why, via)
    _print_step(result, json_out)


def approve(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION"),
    stage: str = typer.Option(..., "--stage", help="the step: staging, production or archived"),
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """Approve a pending step for the stages your teams are accountable for."""
    from baton.store.approvals import parse_target

    parsed, target = _version_ref(ref), parse_target(stage)
    assert parsed.version is not None
    _print_step(state(ctx).control.approve(parsed.name, parsed.version, target, why), json_out)


def rollback(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="model"),
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """Put the previous production version back now (on-call; no approvals needed)."""
    _print_step(state(ctx).control.rollback(parse_ref(name).name, why), json_out)


def _print_step(p: PromotionInfo, json_out: bool) -> None:
    if json_out:
        print_json(p)
        return
    if p.kind == "rollback":
        console.print(
            f"[green]rolled back[/] {safe(p.model)}@production → {p.version} (was {p.from_version})"
        )
    elif p.state == "applied":
        moved = f" (was {p.from_version})" if p.from_version is not None else ""
        where = "archived" if p.target == Target.ARCHIVED else f"now @{p.target}{moved}"
        console.print(f"[green]{safe(p.ref)} is {safe(where)}[/]")
    elif p.state == "cancelled":
        console.print(f"[yellow]cancelled[/] {safe(p.ref)} → {safe(p.target)}")
    elif p.state == "approved":
        console.print(
            f"[green]approved[/] {safe(p.ref)} → {safe(p.target)} through a canary: "
            f"`baton canary start {safe(p.model)} --to {p.version}` applies it"
        )
    elif p.state == "applying":
        console.print(f"[yellow]applying[/] {safe(p.ref)} → {safe(p.target)} through a canary: "
                      f"`baton canary status {safe(p.model)}`")  # fmt: skip
    else:
        waiting = ", ".join(f"{team} ({stage}, A)" for stage, team in p.missing.items())
        console.print(
            f"[yellow]pending[/] {safe(p.ref)} → {safe(p.target)}; "
            f"waiting for approval from {safe(waiting)}"
        )


def promotions(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="model (default: all)"),
    pending: bool = typer.Option(False, "--pending", help="only steps waiting for approval"),
    json_out: bool = JSON,
) -> None:
    """Promotion steps, approvals and rollbacks, newest first."""
    items = state(ctx).control.promotions(parse_ref(name).name if name else None, pending)
    if json_out:
        print_json(items)
        return
    print_promotions(console, items)


# -- requests ---------------------------------------------------------------------------------


def request(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="model"),
    kind: str = typer.Option(..., "--kind", help="retrain, feature, scale or incident"),
    text: str = typer.Option(..., "--text", help="what is needed"),
    to: str | None = typer.Option(None, "--to", help="team you raise it with (optional)"),
    json_out: bool = JSON,
) -> None:
    """Raise a request; baton assigns it to the team responsible for that kind of work."""
    from baton.store.requests import parse_kind

    r = state(ctx).control.raise_request(parse_ref(name).name, parse_kind(kind), text, to)
    if json_out:
        print_json(r)
        return
    note = f" (raised with {r.raised_with}, delegated)" if r.delegated else ""
    console.print(
        f"[green]request #{r.id}[/] {safe(r.kind)} for {safe(r.model)} → team "
        f"{safe(r.team)}{safe(note)}"
    )


def requests(
    ctx: typer.Context,
    team: str | None = typer.Option(None, "--team", help="only those assigned to this team"),
    model: str | None = typer.Option(None, "--model", help="only this model's"),
    state_: str | None = typer.Option(None, "--state", help="open or closed"),
    close: int | None = typer.Option(None, "--close", help="close request #ID (with --why)"),
    assign: int | None = typer.Option(
        None, "--assign", help="assign request #ID to the person --to (with --why)"
    ),
    to: str | None = typer.Option(None, "--to", help="with --assign: a member of its team"),
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """List requests with their state, close one, or assign one to a person (its assigned
    team's members)."""
    control = state(ctx).control
    if assign is not None:
        if close is not None or to is None:
            raise BadInput("--assign ID needs --to PERSON (and not --close): one action at a time")
        given = control.assign_request(assign, to, why)
        if json_out:
            print_json(given)
            return
        console.print(f"[green]assigned[/] request #{given.id} to {safe(given.assignee)} "
                      f"(team {safe(given.team)})")  # fmt: skip
        return
    if close is not None:
        closed = control.close_request(close, why)
        if json_out:
            print_json(closed)
            return
        console.print(f"[green]closed[/] request #{closed.id}: {safe(closed.resolution)}")
        return
    items = control.requests(team, model, state_)
    if json_out:
        print_json(items)
        return
    _print_requests(items)


def _print_requests(items: list[RequestInfo]) -> None:
    table = Table("#", "model", "kind", "team", "assignee", "state", "raised by", "text")
    for r in items:
        team = f"{r.team} (from {r.raised_with})" if r.delegated else r.team
        raised = f"{r.raised_by} {when(r.raised_at)}"
        table.add_row(
            *cells(r.id, r.model, r.kind, team, r.assignee or "-", r.state, raised, r.text)
        )
    console.print(table)


# -- the control plane ------------------------------------------------------------------------


def api(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8700, "--port", min=1, max=65535, help="port to listen on"),
    json_out: bool = typer.Option(
        False, "--json", help="once it answers, print one JSON line with its address"
    ),
) -> None:
    """Serve the control-plane API (OpenAPI at /docs and /openapi.json).

    Tokens are checked before any body is read; bodies over BATON_API_MAX_BODY get 413.
    """
    import uvicorn

    from baton.api.app import create_app
    from baton.serve.ready import ReadyServer
    from baton.ui.web import UiConfig

    _check_can_listen(host, port)
    url = f"http://{host}:{port}"

    def ready() -> None:  # said once it answers, not before
        if json_out:
            said = {"url": url, "openapi": f"{url}/openapi.json", "pid": os.getpid()}
            print_json(said, line=True)
        else:
            console.print(
                f"control plane on {safe(url)}  (OpenAPI: /openapi.json, docs: /docs, "
                "dashboard: /ui)"
            )

    s = state(ctx)
    app = create_app(
        s.store,
        max_body=s.settings.api_max_body,
        ui=UiConfig.from_settings(s.settings),
        settings=s.settings,
    )
    server = ReadyServer(uvicorn.Config(app, host=host, port=port, log_level="warning"), ready)
    server.run()
    if not server.started:
        raise Unavailable(f"the control plane did not start on {host}:{port}: see the lines above")


def _check_can_listen(host: str, port: int) -> None:
    """Say plainly when the address is wrong or taken, before the server starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as exc:
        raise BadInput(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): "
            "pick another --port, or a --host this machine has"
        ) from None


def register_commands(app: typer.Typer) -> None:
    """Add this module's commands to the ``baton`` app."""
    for command in (whoami, owners, promote, approve, rollback, promotions, request, requests, api):
        app.command()(command)
    app.add_typer(team_app, name="team")
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")

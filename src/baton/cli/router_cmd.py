"""``baton router``: a weighted V2 pass-through in front of the versions of one model, and
``baton servers``: the servers and routers baton started (recorded in the store)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from baton.cli.output import console, print_json, print_listing, safe, when
from baton.cli.state import state
from baton.errors import BadInput

if TYPE_CHECKING:  # imported by the command itself: `baton --help` stays fast
    from baton.rollout.router_options import RouterOptions
    from baton.rollout.router_state import Saved
    from baton.store.servers import ServerRecord

MODEL_ARGUMENT = typer.Argument(..., help="the model whose versions the router fronts")
STABLE_OPTION = typer.Option(..., help="URL of the stable version's `baton serve`")
BASELINE_OPTION = typer.Option(
    None, help="URL of the baseline's server (a copy of the stable version beside the canary)"
)
CANARY_OPTION = typer.Option(None, help="URL of the canary version's server")
WEIGHTS_OPTION = typer.Option(
    None,
    help="percent (or fractions) of requests per variant, adding up to 100 (or 1), as in "
    "stable=90,baseline=5,canary=5 (default: stable=100)",
)
HOST_OPTION = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0: all)")
PORT_OPTION = typer.Option(8080, help="TCP port (0: any free one, said once serving)")
STICKY_OPTION = typer.Option(
    None,
    help="send requests with the same value of this header (e.g. X-Request-Id) to the same "
    "variant while the weights stay; without the header, a random choice",
)
SEED_OPTION = typer.Option(None, help="seed of the random choice (repeatable splits in tests)")
FAILOVER_OPTION = typer.Option(
    True, help="a variant whose server takes no connection: another variant with weight answers"
)
MAX_INFLIGHT_OPTION = typer.Option(
    1024, help="requests passed on at once; beyond, 429 + Retry-After"
)
MAX_BODY_MB_OPTION = typer.Option(64.0, help="largest request body, MiB (413 beyond)")
BODY_BUDGET_MB_OPTION = typer.Option(
    None, help="MiB of chunked request bodies held at once (503 beyond; default 4 x max body)"
)
UPSTREAM_TIMEOUT_OPTION = typer.Option(
    60.0, help="seconds a variant's server may take to answer (504 beyond)"
)
MAX_CONNECTIONS_OPTION = typer.Option(
    1024, help="open connections; beyond, the longest-waiting idle or slow one is closed"
)
HEADER_TIMEOUT_OPTION = typer.Option(10.0, help="seconds a client has to send its headers")
BODY_TIMEOUT_OPTION = typer.Option(30.0, help="longest pause, in seconds, while a body arrives")
DRAIN_TIMEOUT_OPTION = typer.Option(30.0, help="seconds in-flight requests get on SIGTERM")
TOKEN_FILE_OPTION = typer.Option(
    None,
    "--admin-token-file",
    help="file holding the token of weight changes (PUT /router/weights); or set "
    "BATON_ROUTER_ADMIN_TOKEN; without either, weight changes are off",
    show_default=False,
)
STATE_FILE_OPTION = typer.Option(
    None,
    "--state-file",
    help="keep the applied weights and servers in this file; started again with the same "
    "command line, the router starts from them (a changed command line starts from its own)",
    show_default=False,
)
JSON_OUT_OPTION = typer.Option(
    False, "--json", help="once serving, print one JSON line: address, weights, servers"
)


def router(
    ctx: typer.Context,
    model: str = MODEL_ARGUMENT,
    stable: str = STABLE_OPTION,
    baseline: str | None = BASELINE_OPTION,
    canary: str | None = CANARY_OPTION,
    weights: str | None = WEIGHTS_OPTION,
    host: str = HOST_OPTION,
    port: int = PORT_OPTION,
    sticky_header: str | None = STICKY_OPTION,
    seed: int | None = SEED_OPTION,
    failover: bool = FAILOVER_OPTION,
    max_inflight: int = MAX_INFLIGHT_OPTION,
    max_body_mb: float = MAX_BODY_MB_OPTION,
    body_budget_mb: float | None = BODY_BUDGET_MB_OPTION,
    upstream_timeout: float = UPSTREAM_TIMEOUT_OPTION,
    max_connections: int = MAX_CONNECTIONS_OPTION,
    header_timeout: float = HEADER_TIMEOUT_OPTION,
    body_timeout: float = BODY_TIMEOUT_OPTION,
    drain_timeout: float = DRAIN_TIMEOUT_OPTION,
    admin_token_file: Path | None = TOKEN_FILE_OPTION,
    state_file: Path | None = STATE_FILE_OPTION,
    json_out: bool = JSON_OUT_OPTION,
) -> None:
    """Route one model's requests between its versions' servers by weight (V2, pass-through)
    until SIGTERM or Ctrl-C; weights change through PUT /router/weights (admin token)."""
    from baton.rollout import router_state_file
    from baton.rollout.router_options import RouterOptions
    from baton.rollout.router_server import run_router
    from baton.rollout.weights import Weights, parse_weights
    from baton.serve.options import MIB

    s = state(ctx)
    upstreams = {"stable": stable, "baseline": baseline, "canary": canary}
    budget = None if body_budget_mb is None else int(body_budget_mb * MIB)
    options = RouterOptions(
        model=model, upstreams={k: v for k, v in upstreams.items() if v},
        weights=Weights() if weights is None else parse_weights(weights), host=host,
        port=port, sticky_header=sticky_header, seed=seed, failover=failover,
        max_inflight=max_inflight, max_body_bytes=int(max_body_mb * MIB),
        body_budget_bytes=budget, upstream_timeout_s=upstream_timeout,
        max_connections=max_connections, header_timeout_s=header_timeout,
        body_timeout_s=body_timeout, drain_timeout_s=drain_timeout,
        admin_token=_token(admin_token_file, s.settings.router_admin_token),
        state_file=None if state_file is None else str(state_file),
    )  # fmt: skip
    s.close()
    saved = router_state_file.start(options)  # before the port: a bad file is said first
    run_router(s.settings, options, saved=saved,
               announce=lambda bound: _announce(options, saved, bound, json_out))  # fmt: skip


def _token(path: Path | None, setting: object) -> str | None:
    """The admin token: the file's first line, else the setting, else none."""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read the admin token file {path}: {exc}") from None
        if not text:
            raise BadInput(f"the admin token file {path} is empty")
        return text
    get = getattr(setting, "get_secret_value", None)
    return None if get is None else str(get())


def _announce(options: RouterOptions, saved: Saved | None, port: int, json_out: bool) -> None:
    from baton.rollout.router_state import starting
    from baton.serve.discovery import advertised

    base = f"http://{advertised(options.host)}:{port}"
    start = starting(options, saved)
    document = {
        "url": base,
        "model": options.model,
        "weights": start.weights.as_dict(),
        "upstreams": dict(start.upstreams),
        "generation": start.generation,
        "resumed_from": options.state_file if saved is not None else None,
        "sticky_header": options.sticky_header,
        "weight_changes": options.admin_token is not None,
        "metrics": f"{base}/metrics",
    }
    if json_out:
        print_json(document, line=True)
        return
    console.print(
        f"routing [bold]{safe(options.model)}[/] at {safe(base)}/v2/models/{safe(options.model)}"
        f" ({safe(start.weights)})",
        soft_wrap=True,
    )
    if saved is not None:
        console.print(f"  as last applied (generation {saved.generation}), from "
                      f"{safe(options.state_file)}", soft_wrap=True)  # fmt: skip
    for variant, url in start.upstreams.items():
        console.print(f"  {variant}: {safe(url)}", soft_wrap=True)
    changes = "PUT /router/weights (admin token)" if options.admin_token else "off (no token)"
    console.print(f"weight changes: {changes}; metrics at {safe(base)}/metrics", soft_wrap=True)


ALL_OPTION = typer.Option(False, "--all", help="stopped ones too")
JSON_OPTION = typer.Option(False, "--json", help="print JSON")


def servers(ctx: typer.Context, show_all: bool = ALL_OPTION, json_out: bool = JSON_OPTION) -> None:
    """List the servers and routers baton started (running ones; --all: stopped ones too)."""
    store = state(ctx).store
    found = store.servers.all(role=None) if show_all else store.servers.live(role=None)
    print_listing(
        found,
        json_out,
        headers=("id", "role", "address", "pid", "serves", "started", "stopped"),
        row=lambda s: (
            s.id,
            s.role,
            s.address,
            s.pid,
            _serves(s),
            when(s.started_at),
            when(s.stopped_at) if s.stopped_at else "-",
        ),
        empty="no servers: start one with `baton serve MODEL`",
    )


def _serves(record: ServerRecord) -> str:
    if record.routing is not None:
        weights = ", ".join(
            f"{v.variant} {v.weight:g}%" for v in record.routing.variants if v.url or v.weight
        )
        return f"{record.routing.model}: {weights}"
    return ", ".join(f"{m.model}:{m.version}" for m in record.models) or "-"

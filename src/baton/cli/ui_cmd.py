"""``baton ui``: the dashboard on its own (``baton api`` serves the same pages at /ui)."""

from __future__ import annotations

import os
import socket

import typer

from baton.cli.output import console, print_json, safe
from baton.cli.state import state
from baton.errors import BadInput, Unavailable


def ui(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8710, "--port", min=0, max=65535, help="port (0: any free one)"),
    json_out: bool = typer.Option(
        False, "--json", help="once it answers, print one JSON line with its address"
    ),
) -> None:
    """Serve the dashboard: models, gate reports, ownership, audit, serving, exporter hub.

    Sign in with a baton token (`baton user add` or `baton token new` prints one); what a
    page lets you do follows the same R&R matrix as the CLI and the API.
    """
    import uvicorn

    from baton.serve.ready import ReadyServer
    from baton.store.governance import Governance
    from baton.ui.app import PREFIX, standalone
    from baton.ui.web import UiConfig

    s = state(ctx)
    app = standalone(Governance.of(s.store), UiConfig.from_settings(s.settings))
    sock = _bind(host, port)  # taken before anything says it serves
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}{PREFIX}/"

    def ready() -> None:  # said once it answers, not before
        if json_out:
            print_json({"url": url, "pid": os.getpid()}, line=True)
        else:
            console.print(f"dashboard on {safe(url)}")

    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)
    server = ReadyServer(config, ready)
    server.run(sockets=[sock])
    if not server.started:
        raise Unavailable(f"the dashboard did not start on {host}:{bound}: see the lines above")


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket; a taken port names the process holding it where it can."""
    from baton.serve.ports import describe_holder

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        holder = describe_holder(port) if port else None
        raise BadInput(
            f"cannot listen on {host}:{port} ({exc.strerror})"
            + (f": {holder}" if holder else "")
            + "; pick another --port, or a --host this machine has"
        ) from None
    return sock

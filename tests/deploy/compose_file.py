"""A rendered Compose file read back the way ``docker compose`` would run it: each service's
command parsed by baton's own CLI (so a flag the CLI does not take fails here), and the
router's variant table (its upstream per variant, its weights) taken from its command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
import yaml

from baton.cli.main import app
from baton.rollout.weights import Weights, parse_weights


def parse_command(argv: list[str]) -> dict[str, Any]:
    """``baton ARGV``'s parameters as the CLI reads them (``router ...``, ``serve ...``)."""
    group = typer.main.get_command(app)
    command = group.commands[argv[0]]  # type: ignore[attr-defined]
    return dict(command.make_context(argv[0], list(argv[1:])).params)


@dataclass(frozen=True)
class RouterTable:
    """What the rendered router starts with: variant -> (service, port), and its weights."""

    upstreams: dict[str, tuple[str, int]]
    weights: Weights
    params: dict[str, Any]


def router_table(router: dict[str, Any]) -> RouterTable:
    params = parse_command(router["command"])
    upstreams = {}
    for variant in ("stable", "baseline", "canary"):
        url = params[variant]
        if url is not None:
            parts = urlsplit(url)
            assert parts.hostname is not None and parts.port is not None
            upstreams[variant] = (parts.hostname, parts.port)
    weights = Weights() if params["weights"] is None else parse_weights(params["weights"])
    return RouterTable(upstreams, weights, params)


def read_compose(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((out / "compose/compose.yaml").read_text())
    return doc

"""What a router routes by: one immutable table of weights and servers, swapped whole.

A request reads the table once, when it picks its variant, and keeps the server it got,
so a change applies to the requests that arrive after it and never to one in flight. A
change (``PUT /router/weights``) gives the new weights and, optionally, new servers for
variants (a canary's server started by the controller, or ``null`` to forget one): the
servers that stay are kept with their pooled connections; a server no longer named is
retired (its idle connections close now, its busy ones when their exchange ends).

With a state file (``--state-file``, as the Compose router runs), the applied table is
written there before it applies, and a router started again with the same command line
starts from it: a router container restarted after a promotion keeps routing to the
promoted version instead of going back to the weights it was rendered with. A different
command line (a newly rendered file) starts from its own weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from baton.errors import BadInput, Conflict
from baton.rollout.router_options import RouterOptions, parse_upstream
from baton.rollout.router_upstream import Upstream
from baton.rollout.weights import VARIANTS, Split, Weights, check_routable, split_of, weights_from

_CHANGE_KEYS = {"weights", "upstreams", "generation", "by", "reason"}
MAX_NOTE = 500  # characters of ``by`` and ``reason`` kept
STATE_FORMAT = 1  # of the state file's document


@dataclass(frozen=True)
class RouteTable:
    """Weights, their spans, and the server pool of each variant that has one."""

    generation: int  # 1 at start, one more per applied change
    weights: Weights
    split: Split
    upstreams: Mapping[str, Upstream]

    @property
    def urls(self) -> dict[str, str | None]:
        return {v: (u.address.url if (u := self.upstreams.get(v)) else None) for v in VARIANTS}

    def document(self, options: RouterOptions) -> dict[str, object]:
        """``GET /router/weights``: what the router applies now."""
        return {
            "model": options.model,
            "generation": self.generation,
            "weights": self.weights.as_dict(),
            "upstreams": self.urls,
            "sticky_header": options.sticky_header,
        }


@dataclass(frozen=True)
class Change:
    """An admin call's new weights and servers (merged onto the table's), and who asked."""

    weights: Weights
    upstreams: Mapping[str, str | None]  # variant -> new URL, or None to forget its server
    generation: int | None = None  # apply only if the table is still at this generation
    by: str | None = None  # who or what asked (the canary controller names itself)
    reason: str | None = None


@dataclass(frozen=True)
class Saved:
    """The table a router with a state file applied last: where it starts again."""

    generation: int
    weights: Weights
    upstreams: Mapping[str, str]  # variant -> URL, variants with a server only


def starting(options: RouterOptions, saved: Saved | None) -> Saved:
    """What the router starts with: the saved table, else the command line's."""
    return saved or Saved(1, options.weights, dict(options.upstreams))


def first_table(options: RouterOptions, saved: Saved | None = None) -> RouteTable:
    """The table the router starts with (on its event loop: pools belong to a loop)."""
    start = starting(options, saved)
    pools = {
        variant: Upstream(parse_upstream(variant, url), options.upstream_timeout_s)
        for variant, url in start.upstreams.items()
    }
    return RouteTable(start.generation, start.weights, split_of(start.weights), pools)


def command_line(options: RouterOptions) -> dict[str, object]:
    """What a saved table is valid for: the model, weights and servers the router was
    started with (another command line starts from its own)."""
    return {
        "model": options.model,
        "weights": options.weights.as_dict(),
        "upstreams": dict(sorted(options.upstreams.items())),
    }


def saved_from(table: RouteTable) -> Saved:
    """What the state file keeps of ``table``."""
    urls = {v: url for v, url in table.urls.items() if url is not None}
    return Saved(table.generation, table.weights, urls)


def state_document(options: RouterOptions, saved: Saved) -> dict[str, object]:
    """The state file's content."""
    return {
        "format": STATE_FORMAT,
        "command_line": command_line(options),
        "generation": saved.generation,
        "weights": saved.weights.as_dict(),
        "upstreams": dict(saved.upstreams),
    }


def saved_of(options: RouterOptions, document: object) -> Saved | None:
    """The table to start from, or None when it was saved under another command line;
    ``BadInput`` when the document is not a router's state."""
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise BadInput(f"it is not a router's state (format {STATE_FORMAT})")
    if document.get("command_line") != command_line(options):
        return None
    generation, weights, upstreams = (
        document.get(k) for k in ("generation", "weights", "upstreams")
    )
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
        raise BadInput(f"its generation {generation!r} is not a whole number of 1 or more")
    if not isinstance(weights, dict) or not isinstance(upstreams, dict):
        raise BadInput('its "weights" and "upstreams" must be objects keyed by variant')
    saved_weights = weights_from(weights)
    for variant, url in upstreams.items():
        if variant not in VARIANTS or not isinstance(url, str):
            raise BadInput(f"its server {variant!r}: {url!r} is not a variant's URL")
        parse_upstream(variant, url)
    check_routable(saved_weights, upstreams)
    return Saved(generation, saved_weights, dict(upstreams))


def parse_change(body: bytes) -> Change:
    """``{"weights": {...}, "upstreams": {...}, "generation": N, "by": "...", "reason": "..."}``"""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"the body is not JSON ({exc})") from None
    if not isinstance(value, dict) or "weights" not in value:
        raise BadInput(
            'send {"weights": {"stable": 90, "baseline": 5, "canary": 5}} (optionally with '
            '"upstreams", "generation", "by" and "reason")'
        )
    unknown = sorted(set(value) - _CHANGE_KEYS)
    if unknown:
        raise BadInput(f"unknown field {', '.join(map(repr, unknown))} in the weight change")
    weights = value["weights"]
    upstreams = value.get("upstreams", {})
    if not isinstance(weights, dict) or not isinstance(upstreams, dict):
        raise BadInput('"weights" and "upstreams" must be objects keyed by variant')
    for variant, url in upstreams.items():
        if variant not in VARIANTS:
            raise BadInput(f"unknown variant {variant!r} in upstreams: the variants are "
                           f"{', '.join(VARIANTS)}")  # fmt: skip
        if url is not None:
            if not isinstance(url, str):
                raise BadInput(f"the {variant} server must be a URL string or null")
            parse_upstream(variant, url)
    generation = value.get("generation")
    if generation is not None and (isinstance(generation, bool) or not isinstance(generation, int)):
        raise BadInput('"generation" must be a whole number (from GET /router/weights)')
    return Change(
        weights_from(weights),
        upstreams,
        generation,
        _note(value.get("by"), "by"),
        _note(value.get("reason"), "reason"),
    )


def _note(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f'"{name}" must be a string')
    return value[:MAX_NOTE]


def next_table(
    table: RouteTable, change: Change, timeout_s: float
) -> tuple[RouteTable, list[Upstream], list[Upstream]]:
    """The table after ``change``, the pools it opens and the pools it retires."""
    if change.generation is not None and change.generation != table.generation:
        raise Conflict(
            f"the weights changed since generation {change.generation} (now "
            f"{table.generation}): read them again with GET /router/weights"
        )
    urls = {**table.urls, **change.upstreams}
    check_routable(change.weights, urls)
    pools: dict[str, Upstream] = {}
    opened: list[Upstream] = []
    for variant, url in urls.items():
        if url is None:
            continue
        address = parse_upstream(variant, url)
        old = table.upstreams.get(variant)
        if old is not None and old.address == address:
            pools[variant] = old
        else:
            pools[variant] = Upstream(address, timeout_s)
            opened.append(pools[variant])
    kept = {id(p) for p in pools.values()}
    retired = [p for p in table.upstreams.values() if id(p) not in kept]
    new = RouteTable(table.generation + 1, change.weights, split_of(change.weights), pools)
    return new, opened, retired


def newly_routed(old: RouteTable, new: RouteTable) -> list[str]:
    """Variants that get requests under ``new`` and did not (from the same server) before:
    their servers must be ready before the change applies."""
    routed_before = set(old.weights.routed())
    out = []
    for variant in new.weights.routed():
        same_server = old.upstreams.get(variant) is new.upstreams.get(variant)
        if variant not in routed_before or not same_server:
            out.append(variant)
    return out

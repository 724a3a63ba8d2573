"""``baton promotions`` on any terminal: a table when it fits, one block per step when not.

The key cells (#, version, step, state) are what a reader looks up, so they are never cut;
the long ones (asked by, approved by, waiting for, why) fold. Below the width where every
key cell and a readable share of the rest fit, the table gives way to stacked blocks, as
``gh`` and ``kubectl`` do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from baton.cli.output import cells, inert, when

if TYPE_CHECKING:  # the store is imported when a command runs, not at start-up
    from baton.store.approvals import PromotionInfo

KEYS = ("#", "version", "step", "state")
LONG = ("asked by", "approved by", "waiting for", "why")
READABLE = 12  # narrowest a folded column still reads as words


def _cells(p: PromotionInfo) -> tuple[str, ...]:
    step = "rollback" if p.kind == "rollback" else f"→ {p.target}"
    return (
        str(p.id),
        p.ref,
        step,
        p.state,
        f"{p.requested_by} {when(p.requested_at)}",
        ", ".join(f"{a.person} ({a.team})" for a in p.approvals) or "-",
        ", ".join(p.missing.values()) or "-",
        p.reason or "",
    )


def _room(rows: Sequence[tuple[str, ...]], width: int) -> int:
    """Columns left for the long cells once the key cells and the borders are drawn."""
    keys = sum(max(len(r[i]) for r in [KEYS, *rows]) for i in range(len(KEYS)))
    borders = 3 * (len(KEYS) + len(LONG)) + 1
    return width - keys - borders


def _widths(rows: Sequence[tuple[str, ...]], room: int) -> list[int]:
    """Share ``room`` among the long columns: a column that needs less than its share
    gets what it needs, and why (the longest, as a rule) weighs twice."""
    first = len(KEYS)
    natural = [max(len(r[first + i]) for r in [KEYS + LONG, *rows]) for i in range(len(LONG))]
    weight = [2 if name == "why" else 1 for name in LONG]
    widths = [0] * len(LONG)
    left, weight_left = room, sum(weight)
    for i in sorted(range(len(LONG)), key=lambda i: natural[i] / weight[i]):
        widths[i] = max(1, min(natural[i], left * weight[i] // weight_left))
        left -= widths[i]
        weight_left -= weight[i]
    return widths


def print_promotions(console: Console, items: Sequence[PromotionInfo]) -> None:
    rows = [tuple(inert(c) for c in _cells(p)) for p in items]  # sized as they will show
    room = _room(rows, console.width)
    if room >= READABLE * len(LONG):
        table = Table()
        for key in KEYS:
            table.add_column(key, no_wrap=True)
        for long, width in zip(LONG, _widths(rows, room), strict=True):
            table.add_column(long, overflow="fold", width=width)
        for row in rows:
            table.add_row(*cells(*row))
        console.print(table)
        return
    for row in rows:
        ident, version, step, state, asked, approved, waiting, why = row
        console.print(Text.assemble(f"#{ident} ", (version, "bold"), f"  {step}  {state}"))
        for label, value in (("asked by", asked), ("approved by", approved),
                             ("waiting for", waiting), ("why", why)):  # fmt: skip
            if value and value != "-":
                console.print(Text(f"  {label}: {value}"), overflow="fold")

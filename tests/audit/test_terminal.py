"""The audit in a terminal: the table where it fits, a block per deployment where it does not."""

from __future__ import annotations

from rich.console import Console

from baton.audit.result import AuditResult
from baton.audit.terminal import render_table
from testkit.sample import sample_result


def shown(result: AuditResult, width: int, **kw: object) -> str:
    console = Console(record=True, width=width, color_system=None)
    render_table(result, console, **kw)  # type: ignore[arg-type]
    return console.export_text()


def test_eighty_columns_get_one_readable_block_per_deployment() -> None:
    """At 80 columns the nine-column table wrapped every cell to a few letters (issue 14)."""
    result = sample_result()
    out = shown(result, 80)
    assert "┃" not in out and "…" not in out
    assert all(len(line) <= 80 for line in out.splitlines())
    starts = [out.index(f"\n{row.deployment.name}  ") for row in result.sorted_rows()]
    assert starts == sorted(starts)  # still the row to act on first
    ranker = out[starts[0] :].split("\n\n")[0]
    assert "at risk  (near capacity)" in ranker
    for label in ("replicas", "per replica", "peak / capacity", "p99 / SLO ms",
                  "cost/month USD", "savings", "data"):  # fmt: skip
        assert f"\n  {label} " in ranker
    assert "Fleet: 9 deployment(s)" in out
    assert "at risk: search-ranker: peak uses" in out


def test_a_wide_terminal_keeps_the_table() -> None:
    out = shown(sample_result(), 260)
    assert "┃ deployment" in out and "┃ verdict" in out
    assert "\n  replicas " not in out


def test_the_layout_can_be_forced_and_the_limit_applies_to_both() -> None:
    result = sample_result(extra=3)
    blocks = shown(result, 260, limit=2, stacked=True)
    assert "┃" not in blocks and "... and 10 more" in blocks
    table = shown(result, 80, limit=2, stacked=False)
    assert "┃" in table and "... and 10 more" in table


def test_a_cpu_request_below_its_limit_shows_both() -> None:
    out = shown(sample_result(), 80)
    block = out[out.index("\ntranslate-small  ") :].split("\n\n")[0]
    assert "-> 0.26c (limit 2)/" in block

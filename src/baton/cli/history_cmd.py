"""``baton history NAME [--at TIME]``: what happened to a model, and what served when.

Times are shown in the local zone with their offset, as ``--at`` reads them, so an answer
can be pasted back into ``--at``. ``--json`` prints the ``History`` record (schema in
docs/history.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from baton.cli.output import console, inert, print_json
from baton.cli.state import state

if TYPE_CHECKING:  # the store and the core records load when the command runs
    from baton.core.history_facts import GateRun, PromotionFact
    from baton.core.rollout_records import MetricResult
    from baton.core.served_at import AliasAt, History, RolloutAt, ServedAt
    from baton.core.timeline import Event

AT_HELP = (
    "answer what served at this instant, who approved it and why: ISO 8601 with a zone "
    "(2026-11-24T03:00:00+01:00, ...Z), a local time ('2026-11-24 03:00'), or '3 days ago'"
)


def history(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="the model"),
    at: str | None = typer.Option(None, "--at", metavar="TIME", help=AT_HELP),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """A model's timeline (registrations, gate verdicts, promotions and approvals, alias
    moves, renders, rollouts and each canary decision), or with --at what served then."""
    from baton.core.instants import parse_instant
    from baton.core.refs import check_name

    when = None if at is None else parse_instant(at, datetime.now(UTC), "--at")
    found = state(ctx).control.history(check_name(name), when)
    if json_out:
        print_json(found)
    elif when is None:
        _timeline(found)
        _served(found, "serving now")
    else:
        _served(found, f"at {_time(when)}")


def _time(value: datetime) -> str:
    return value.astimezone().isoformat(sep=" ", timespec="seconds")


def _timeline(found: History) -> None:
    table = Table(title=f"{found.model} (owner {found.owner})", expand=True)
    table.add_column("when", no_wrap=True)
    table.add_column("who", no_wrap=True)
    table.add_column("what", ratio=3)  # the long one: most of the room
    table.add_column("why", ratio=1)
    for event in found.events:
        plain = (_time(event.at), event.actor)
        table.add_row(
            *(Text(inert(v)) for v in plain), _what(event), Text(inert(event.reason or ""))
        )
    console.print(table)


def _what(event: Event) -> Text:
    """The summary; a canary decision adds one line of numbers per metric."""
    lines = [event.summary]
    if event.decision is not None:
        lines += [f"  {name} {metric_numbers(m)}" for name, m in event.decision.metrics.items()]
    return Text("\n".join(inert(line) for line in lines))


def metric_numbers(m: MetricResult) -> str:
    """ "high (critical): canary 0.012, baseline 0.008, n 240/251, CI [0.003, 0.005]: why"."""
    pairs = (("canary", m.canary), ("baseline", m.baseline), ("effect", m.effect),
             ("p", m.p_value))  # fmt: skip
    numbers = [f"{label} {value:g}" for label, value in pairs if value is not None]
    if m.n_canary is not None or m.n_baseline is not None:
        counts = ("-" if n is None else str(n) for n in (m.n_canary, m.n_baseline))
        numbers.append("n " + "/".join(counts))
    if m.ci_low is not None and m.ci_high is not None:
        numbers.append(f"CI [{m.ci_low:g}, {m.ci_high:g}]")
    critical = " (critical)" if m.critical else ""
    said = f": {m.message}" if m.message else ""
    return f"{m.classification.value}{critical}: {', '.join(numbers) or 'no numbers'}{said}"


def _served(found: History, heading: str) -> None:
    served: ServedAt = found.served
    console.print(Text(inert(f"{found.model} {heading}"), style="bold"), soft_wrap=True)
    if not served.aliases and found.created_at > served.at:
        _say(f"  nothing: {found.model} did not exist yet (its first hand-over came "
             f"{_time(found.created_at)})")  # fmt: skip
    elif not served.aliases:
        _say(f"  nothing: no alias pointed at a version of {found.model}")
    for alias in sorted(served.aliases, key=lambda a: (a.alias != "production", a.alias)):
        _alias(alias)
    if served.rollout is not None:
        _rollout(served.rollout)


def _alias(a: AliasAt) -> None:
    moved = f"  version {a.version}  since {_time(a.since)}, moved by {a.moved_by}"
    console.print(Text.assemble(("  @" + a.alias, "bold"), inert(moved)), soft_wrap=True)
    lines: list[str] = []
    if a.promotion is not None:
        lines += _promotion(a.promotion)
    elif a.reason:
        lines.append(f"why: {a.reason}")
    if a.rollout is not None:
        lines.append(f"applied through rollout #{a.rollout}")
    if a.alias in ("staging", "production") or a.gate is not None:
        lines.append(_gate(a.gate))
    for line in lines:
        _say("      " + line)


def _promotion(p: PromotionFact) -> list[str]:
    if p.kind == "rollback":
        return [f"rollback #{p.id} by {p.requested_by}, from version {p.from_version}: "
                f"{p.reason}"]  # fmt: skip
    lines = [f"promotion #{p.id}, asked by {p.requested_by} at {_time(p.requested_at)}: "
             f"{p.reason}"]  # fmt: skip
    for a in p.approvals:
        lines.append(f"approved by {a.person} (team {a.team}, {a.stage}) at {_time(a.at)}: "
                     f"{a.reason}")  # fmt: skip
    return lines


def _gate(g: GateRun | None) -> str:
    from baton.core.timeline import gate_line

    if g is None:
        return "gate: no evaluation before this move"
    return f"{gate_line(g)} (evaluation #{g.id}, {_time(g.at)})"


def _rollout(r: RolloutAt) -> None:
    baseline = f", baseline {r.baseline_version}" if r.baseline_version is not None else ""
    _say(
        f"  rollout #{r.id} in progress: {r.from_version} -> {r.to_version}{baseline}, "
        f"{r.phase.value} at step {r.step}: {r.weights} (since {_time(r.since)}; started by "
        f"{r.started_by})"
    )


def _say(line: str) -> None:
    """One line of the answer, shown as text (a stored newline cannot forge a line)."""
    console.print(Text(inert(line)), overflow="fold")

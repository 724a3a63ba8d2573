"""Alertmanager routes from the R&R matrix, and receivers from the team's receivers.yaml.

A model's alerts carry the ``team`` label of the team on call for it; that team's receiver
for the alert's severity gets them. Critical alerts are also copied to the model's
accountable teams (model quality and on-call) when they are not the on-call team, so the
research team hears when its model breaks in production. Every route is proved with
``amtool config routes test`` for every model x severity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.core.manifest import describe_validation_error
from baton.core.roles import Matrix, Stage
from baton.errors import BadInput

Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")
UNROUTED = "baton-unrouted"


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")


class Slack(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["slack"]
    api_url: str = Field(pattern=r"^https?://")
    channel: str = Field(pattern=r"^[#@]")


class Email(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["email"]
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


Receiver = Annotated[Webhook | Slack | Email, Field(discriminator="type")]


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    smarthost: str = Field(pattern=r"^[^:\s]+:\d+$")
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    require_tls: bool = True


class ReceiversFile(BaseModel):
    """``receivers.yaml``: per team and severity, where its alerts go."""

    model_config = ConfigDict(extra="forbid")
    email: EmailSettings | None = None
    teams: dict[str, dict[Severity, Receiver]] = Field(default_factory=dict)


def parse_receivers(data: Any, source: str = "receivers.yaml") -> ReceiversFile:
    if data is None:
        return ReceiversFile()
    try:
        parsed = ReceiversFile.model_validate(data)
    except ValidationError as exc:
        raise BadInput(f"{source}: {describe_validation_error(exc)}") from None
    uses_email = any(r.type == "email" for row in parsed.teams.values() for r in row.values())
    if uses_email and parsed.email is None:
        raise BadInput(
            f"{source}: an email receiver needs `email: {{smarthost: host:25, sender: a@b}}`"
        )
    return parsed


@dataclass(frozen=True)
class ModelRouting:
    """Who hears about one model: the on-call team, and who is copied on critical alerts."""

    model: str
    oncall: str
    copied: tuple[str, ...]


def routing_for(model: str, matrix: Matrix) -> ModelRouting:
    """From the model's matrix (owner already substituted)."""
    oncall = matrix.responsible(Stage.ONCALL)
    accountable = [matrix.accountable(Stage.ONCALL), matrix.accountable(Stage.HANDOVER)]
    copied = tuple(dict.fromkeys(t for t in accountable if t != oncall))
    return ModelRouting(model, oncall, copied)


def _receiver_name(team: str, severity: str) -> str:
    return f"{team}-{severity}"


def _receiver(name: str, spec: Webhook | Slack | Email | None) -> dict[str, object]:
    if spec is None:
        return {"name": name}  # a stub: the team fills receivers.yaml in
    if isinstance(spec, Webhook):
        return {"name": name, "webhook_configs": [{"url": spec.url, "send_resolved": True}]}
    if isinstance(spec, Slack):
        return {
            "name": name,
            "slack_configs": [
                {"api_url": spec.api_url, "channel": spec.channel, "send_resolved": True}
            ],
        }
    return {"name": name, "email_configs": [{"to": spec.to, "send_resolved": True}]}


class AlertRoute(TypedDict):
    """The top route: where an alert no team route matches goes, and how alerts group."""

    receiver: str
    group_by: list[str]
    group_wait: str
    group_interval: str
    repeat_interval: str
    routes: list[dict[str, object]]


AlertmanagerConfig = TypedDict(  # functional form: "global" is a keyword
    "AlertmanagerConfig",
    {
        "route": AlertRoute,
        "inhibit_rules": list[dict[str, list[str]]],
        "receivers": list[dict[str, object]],
        "global": NotRequired[dict[str, object]],
    },
)


@dataclass(frozen=True)
class AlertmanagerBundle:
    config: AlertmanagerConfig
    expectations: tuple[tuple[dict[str, str], tuple[str, ...]], ...]  # labels -> receivers
    notes: tuple[str, ...]


def alertmanager_config(
    routings: Sequence[ModelRouting], receivers: ReceiversFile
) -> AlertmanagerBundle:
    """The configuration, and what each model x severity must reach."""
    teams = sorted({r.oncall for r in routings} | {t for r in routings for t in r.copied})
    config: AlertmanagerConfig = {
        "route": {
            "receiver": UNROUTED,
            "group_by": ["alertname", "model", "version"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": _routes(routings),
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["alertname", "model", "version"],
            }
        ],
        "receivers": [
            {"name": UNROUTED},
            *(
                _receiver(_receiver_name(team, sev), receivers.teams.get(team, {}).get(sev))
                for team in teams
                for sev in SEVERITIES
            ),
        ],
    }
    if receivers.email is not None:
        config["global"] = {
            "smtp_smarthost": receivers.email.smarthost,
            "smtp_from": receivers.email.sender,
            "smtp_require_tls": receivers.email.require_tls,
        }
    return AlertmanagerBundle(
        config=config,
        expectations=_expectations(routings),
        notes=_receiver_notes(teams, receivers),
    )


def _receiver_notes(teams: list[str], receivers: ReceiversFile) -> tuple[str, ...]:
    """What receivers.yaml leaves out (stub receivers) or names in vain."""
    notes = [
        f"team {team!r} has no {severity} receiver in receivers.yaml: its "
        f"{_receiver_name(team, severity)} receiver is a stub that delivers nowhere"
        for team in teams
        for severity in SEVERITIES
        if severity not in receivers.teams.get(team, {})
    ]
    unknown = sorted(set(receivers.teams) - set(teams))
    if unknown:
        notes.append(f"receivers.yaml names teams that route no alert: {', '.join(unknown)}")
    return tuple(notes)


def _routes(routings: Sequence[ModelRouting]) -> list[dict[str, object]]:
    """Copies of critical alerts to the teams a model names first, then each on-call team."""
    copy_routes: list[dict[str, object]] = [
        {
            "receiver": _receiver_name(team, "critical"),
            "matchers": [f'model="{r.model}"', 'severity="critical"'],
            "continue": True,
        }
        for r in routings
        for team in r.copied
    ]
    team_routes: list[dict[str, object]] = [
        {
            "receiver": _receiver_name(team, severity),
            "matchers": [f'team="{team}"', f'severity="{severity}"'],
        }
        for team in sorted({r.oncall for r in routings})
        for severity in SEVERITIES
    ]
    return copy_routes + team_routes


def _expectations(
    routings: Sequence[ModelRouting],
) -> tuple[tuple[dict[str, str], tuple[str, ...]], ...]:
    """The receivers each model x severity must reach (what `amtool` checks)."""
    return tuple(
        (
            {"model": r.model, "team": r.oncall, "severity": sev},
            tuple(
                ([_receiver_name(t, "critical") for t in r.copied] if sev == "critical" else [])
                + [_receiver_name(r.oncall, sev)]
            ),
        )
        for r in routings
        for sev in SEVERITIES
    )

"""``baton monitor drill``: prove that an alert about a model reaches a person.

A synthetic alert with the model's labels goes to the running Alertmanager; Alertmanager's
own API then says which receivers it routed it to, which is compared with what the R&R
matrix says should get it. The drill alert is resolved again at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from baton.errors import Unavailable
from baton.monitor.alertmanager import ModelRouting

DRILL = "BatonDrill"


@dataclass(frozen=True)
class DrillResult:
    model: str
    severity: str
    expected: tuple[str, ...]
    reached: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return set(self.expected) == set(self.reached)


def drill(
    alertmanager: str, routing: ModelRouting, version: int, severity: str, timeout_s: float = 15
) -> DrillResult:
    now = datetime.now(UTC)
    labels = {
        "alertname": DRILL, "model": routing.model, "version": str(version),
        "team": routing.oncall, "severity": severity,
    }  # fmt: skip
    alert = {
        "labels": labels,
        "annotations": {"summary": f"drill: does an alert about {routing.model} reach someone?"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }
    expected = ([f"{t}-critical" for t in routing.copied] if severity == "critical" else []) + [
        f"{routing.oncall}-{severity}"
    ]
    base = alertmanager.rstrip("/")
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            client.post("/api/v2/alerts", json=[alert]).raise_for_status()
            reached = _receivers(client, labels, timeout_s)
            client.post("/api/v2/alerts", json=[{**alert, "endsAt": datetime.now(UTC).isoformat()}])
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"cannot reach Alertmanager at {base} ({exc}): start it with `baton monitor up`"
        ) from None
    return DrillResult(routing.model, severity, tuple(expected), reached)


def _receivers(client: httpx.Client, labels: dict[str, str], timeout_s: float) -> tuple[str, ...]:
    filters = [f'{k}="{v}"' for k, v in labels.items()]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = client.get("/api/v2/alerts", params={"filter": filters}).json()
        if found:
            return tuple(sorted({r["name"] for a in found for r in a.get("receivers", [])}))
        time.sleep(0.2)
    return ()

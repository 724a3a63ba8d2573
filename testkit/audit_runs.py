"""Stored audits without a Prometheus: a fleet of ``n`` deployments with known verdicts.

The dashboard's tests and ``bench/ui.py`` need a stored run to show; the audit itself is
tested against a real Prometheus in tests/audit. Every line is what ``audit.stored.line``
would write for such a deployment: the verdicts cycle through all six, costs and savings
follow from the index, so a test can say which line comes first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from baton.core.audit_records import VERDICTS, AuditedDeployment, NewAuditRun


def audit_line(i: int, verdict: str | None = None) -> AuditedDeployment:
    """Deployment ``i``: costs 100 + i a month; over-provisioned and idle ones save."""
    verdict = verdict or VERDICTS[i % len(VERDICTS)]
    now = 100.0 + i
    after = {
        "over-provisioned": now / 2,
        "idle": 0.0,
        "under-provisioned": now * 1.5,
        "at risk": now * 2,
    }.get(verdict, now)
    sized = verdict not in ("insufficient data",)
    return AuditedDeployment(
        name=f"dep-{i:04d}",
        model=f"model-{i % 50:02d}",
        version=str(1 + i % 3),
        verdict=verdict,
        owner=("vision", "speech", "serving")[i % 3],
        cost_now=now,
        cost_after=after,
        savings=now - after,
        replicas_now="4",
        replicas_after=("0" if verdict == "idle" else "2") if sized else "-",
        shape_now="2c/4Gi",
        shape_after="1c/2Gi" if sized else "-",
        hardware_now="cpu",
        hardware_after="cpu",
        batch_now=8,
        batch_after=16 if sized else 8,
        flags=("scale to zero",) if verdict == "idle" else (),
        reasons=(f"peak {i % 40 + 1} req/s + 30% headroom", f"verdict {verdict}"),
    )


def audit_run(
    n: int, *, end: datetime | None = None, url: str = "http://prometheus:9090"
) -> NewAuditRun:
    end = end or datetime(2026, 12, 10, 12, tzinfo=UTC)
    return NewAuditRun(
        prometheus_url=url,
        window_start=end - timedelta(days=14),
        window_end=end,
        currency="USD",
        example_prices=True,
        deployments=tuple(audit_line(i) for i in range(n)),
        notes=("window longer than the data: 3 deployments have less",),
    )

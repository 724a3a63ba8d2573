"""``Client.audit``: the verdicts ``baton audit`` gives, from Python, against a real Prometheus
serving a fleet with known right answers; and what it says when there is nothing to audit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

import baton
from baton.audit.fleet_file import fleet_entry
from tests.audit.verdict_fleet import (
    EXPECTED,
    VerdictFleet,
    verdict_fleet,  # noqa: F401  (the fixture)
)


@pytest.fixture
def fleet_file(verdict_fleet: VerdictFleet, tmp_path: Path) -> Path:  # noqa: F811
    path = tmp_path / "fleet.yaml"
    entries = [fleet_entry(d) for d in verdict_fleet.deployments]
    path.write_text(yaml.safe_dump({"deployments": entries}), encoding="utf-8")
    return path


@pytest.mark.parametrize("remote", [False, True])
def test_audit_gives_each_deployment_its_verdict(
    verdict_fleet: VerdictFleet,  # noqa: F811
    fleet_file: Path,
    tmp_path: Path,
    remote: bool,
) -> None:
    """A remote client audits a fleet file too: it needs Prometheus, not the store."""
    where = {"url": "http://127.0.0.1:9", "token": "x"} if remote else {"home": tmp_path}
    with baton.Client(**where) as client:  # type: ignore[arg-type]
        result = client.audit(
            fleet=fleet_file, servers=False, prometheus=verdict_fleet.prometheus.url,
            window="3d", end=datetime.fromtimestamp(verdict_fleet.end, UTC),
            rate_window=15 * 60, headroom=0.5, risk=0.9,
        )  # fmt: skip
    assert isinstance(result, baton.AuditResult)
    assert {row.deployment.name: row.verdict for row in result.rows} == EXPECTED


def test_nothing_to_audit_and_bad_windows_say_so(tmp_path: Path) -> None:
    with baton.Client(home=tmp_path / "home") as client:
        with pytest.raises(baton.BadInput, match="nothing to audit"):
            client.audit()
        with pytest.raises(baton.BadInput, match="window: '14days' is not a duration"):
            client.audit(window="14days")
        with pytest.raises(baton.BadInput, match="rate_window: -1 seconds must be more than 0"):
            client.audit(rate_window=-1)

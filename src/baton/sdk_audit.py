"""``Client.audit``: the steps ``baton audit`` takes (inventory, usage, sizing), minus the
terminal: the deployments from the store's servers, the manifests and the fleet file, then
the audit over the window, with the inventory's notes in front of the audit's."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from baton.errors import BadInput

if TYPE_CHECKING:
    from baton.audit.result import AuditResult
    from baton.config import Settings
    from baton.core.sizing import SizingPolicy
    from baton.store.store import Store


def seconds(what: str, value: str | float) -> float:
    """A duration given as seconds or as text such as ``14d`` or ``1h30m``."""
    from baton.core.durations import parse_duration

    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise BadInput(f"{what}: {exc}") from None
    if value <= 0:
        raise BadInput(f"{what}: {value} seconds must be more than 0")
    return float(value)


def prometheus_url(settings: Settings) -> str:
    """As ``baton audit`` finds it: BATON_PROMETHEUS_URL (or ``prometheus_url=``) when
    set, else the stack ``baton monitor up`` started, else the default (:9090)."""
    if "prometheus_url" in settings.model_fields_set:
        return settings.prometheus_url
    from baton.monitor.stack import discover

    return discover(settings.home.resolve(), "prometheus") or settings.prometheus_url


def _end(value: datetime | float | None) -> float:
    if value is None:
        return time.time()
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def audit(
    settings: Settings,
    store: Store | None,
    *,
    prometheus: str | None,
    window: str | float,
    end: datetime | float | None,
    rate_window: str | float,
    fleet: str | Path | None,
    manifests: Sequence[str | Path],
    prices: str | Path | None,
    policy: SizingPolicy,
) -> AuditResult:
    from baton.audit.inventory import gather
    from baton.audit.prices import load_prices
    from baton.audit.prometheus import Prometheus
    from baton.audit.service import run_audit

    window_s, rate_s = seconds("window", window), seconds("rate_window", rate_window)
    end_s = _end(end)
    table = load_prices(None if prices is None else Path(prices))
    since = datetime.fromtimestamp(end_s - window_s, UTC)  # servers that stopped count too
    until = datetime.fromtimestamp(end_s, UTC)
    fleet_path = None if fleet is None else Path(fleet)
    inventory = gather(store, [Path(m) for m in manifests], fleet_path, since=since, until=until)
    if not inventory.deployments:
        raise BadInput(
            "nothing to audit: no `baton serve` recorded in the store, and no fleet or "
            "manifests given"
        )
    result = run_audit(
        inventory.deployments,
        Prometheus(prometheus or prometheus_url(settings)),
        end_s - window_s,
        end_s,
        prices=table,
        policy=policy,
        store=store,
        rate_window_s=rate_s,
    )
    if inventory.notes:
        result = replace(result, notes=tuple(inventory.notes) + result.notes)
    return result

"""Monitoring services over the store: which models to watch, and the bundle for them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from baton.core.manifest import SLO
from baton.core.policy import Policy
from baton.core.refs import Ref, check_name
from baton.errors import BadInput
from baton.monitor import hub
from baton.monitor.addresses import ALERTMANAGER
from baton.monitor.alertmanager import parse_receivers, routing_for
from baton.monitor.bundle import Bundle, MonitoredModel, build_bundle
from baton.monitor.slo_rules import RUNBOOK_URL
from baton.store.ownership import Roles
from baton.store.store import Store
from baton.yaml_files import YamlLimits, load_yaml

DEPLOYED = ("production", "staging")
DEFAULT_SLO = Policy().default_slo


def watched_models(
    store: Store, names: Sequence[str] = ()
) -> tuple[list[MonitoredModel], list[str]]:
    """The models to monitor: those named, else every model with a deployed alias."""
    notes: list[str] = []
    roles = Roles(store.engine)
    chosen = [check_name(n) for n in names] or [
        m.name for m in store.registry.models() if any(a in m.aliases for a in DEPLOYED)
    ]
    out = []
    for name in chosen:
        info, _ = store.registry.model(name)
        alias = next((a for a in DEPLOYED if a in info.aliases), None)
        if alias is None:
            if info.latest is None:
                raise BadInput(f"{name} has no versions to monitor: register one first")
            notes.append(
                f"{name} has no staging or production alias: watching version {info.latest}"
            )
            version = store.registry.resolve(Ref(name, version=info.latest))
        else:
            version = store.registry.resolve(Ref(name, alias=alias))
        slo = version.manifest.slo
        routing = routing_for(name, roles.owners(name).matrix)
        out.append(MonitoredModel(name, version.number, slo, routing))
    return out, notes


def read_receivers(path: Path | None) -> object:
    if path is None:
        return None
    if not path.is_file():
        raise BadInput(f"{path} does not exist: give a receivers.yaml, or leave --receivers out")
    try:
        return load_yaml(path.read_text(encoding="utf-8"), path.name, YamlLimits())
    except yaml.YAMLError as exc:
        raise BadInput(f"{path.name} is not valid YAML: {getattr(exc, 'problem', exc)}") from None


def bundle_for(
    store: Store,
    names: Sequence[str],
    *,
    targets_dir: Path,
    receivers: Path | None = None,
    default_slo: SLO = DEFAULT_SLO,
    alertmanager: str = ALERTMANAGER,
    scrape_interval: str = "15s",
    time_scale: float = 1.0,
    exporters: Sequence[str] = (),
    runbook_url: str | None = None,
) -> Bundle:
    """Everything needed to monitor the chosen models (and the hub ``exporters`` the bundle
    takes); raises before anything is written."""
    chosen = [hub.load(name) for name in exporters]
    parsed = parse_receivers(read_receivers(receivers), receivers.name if receivers else "-")
    models, notes = watched_models(store, names)
    if not models:
        raise BadInput(
            "no model has a staging or production alias: name the models to monitor, "
            "or promote one first"
        )
    return build_bundle(
        models,
        parsed,
        default_slo,
        targets_dir=targets_dir,
        alertmanager=alertmanager,
        notes=notes,
        scrape_interval=scrape_interval,
        time_scale=time_scale,
        exporters=chosen,
        runbook_url=runbook_url or RUNBOOK_URL,
    )

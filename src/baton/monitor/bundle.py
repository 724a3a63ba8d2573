"""The monitoring bundle: rules, rule tests, dashboards, Prometheus and Alertmanager configs.

Built in memory from what baton knows (each deployed model's SLO and its R&R matrix), then
written to a temporary directory beside the target and renamed into place, so a failed or
interrupted run never leaves a partial bundle where a good one was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from baton.core.manifest import SLO
from baton.errors import Unavailable
from baton.monitor import hub
from baton.monitor.addresses import ALERTMANAGER
from baton.monitor.alertmanager import ModelRouting, ReceiversFile, alertmanager_config
from baton.monitor.bundle_exporters import exporter_files, with_exporters
from baton.monitor.dashboards import model_dashboard, overview
from baton.monitor.slo_rules import (
    RUNBOOK_URL,
    ModelTarget,
    rule_file,
    rule_tests,
    scale_duration,
)

PROMETHEUS_FILE = "prometheus.yml"
ALERTMANAGER_FILE = "alertmanager.yml"
ROUTE_TESTS_FILE = "alertmanager.routes.test.yaml"
NOTES_FILE = "NOTES.md"


@dataclass(frozen=True)
class MonitoredModel:
    model: str
    version: int  # the deployed version (production, else staging)
    slo: SLO | None
    routing: ModelRouting


@dataclass(frozen=True)
class Bundle:
    files: dict[str, str]  # relative path -> text
    notes: tuple[str, ...]


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=120)


def prometheus_config(
    targets_dir: Path, alertmanager: str, scrape_interval: str = "15s"
) -> dict[str, object]:
    """Scrape every baton server listed by file-based discovery, and load the rules."""
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": ["rules/*.rules.yaml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "baton",
                "file_sd_configs": [
                    {"files": [str(targets_dir / "*.json")], "refresh_interval": "15s"}
                ],
            }
        ],
    }


def build_bundle(
    models: Sequence[MonitoredModel],
    receivers: ReceiversFile,
    default_slo: SLO,
    *,
    targets_dir: Path,
    alertmanager: str = ALERTMANAGER,
    scrape_interval: str = "15s",
    notes: Sequence[str] = (),
    time_scale: float = 1.0,
    exporters: Sequence[hub.Exporter] = (),
    runbook_url: str = RUNBOOK_URL,
) -> Bundle:
    files: dict[str, str] = exporter_files(exporters)
    notes = list(notes)
    for item in models:
        target = ModelTarget(
            item.model, str(item.version), item.routing.oncall, item.slo, runbook_url
        )
        ruleset = rule_file(target, default_slo, time_scale=time_scale)
        rules_name = f"{item.model}.rules.yaml"
        files[f"rules/{rules_name}"] = _yaml(ruleset.rules)
        files[f"rules/{item.model}.rules.test.yaml"] = _yaml(rule_tests(ruleset, rules_name))
        files[f"dashboards/{item.model}.json"] = json.dumps(
            model_dashboard(item.model, item.slo or default_slo), indent=2
        )
        notes += [f"{item.model}: {n}" for n in ruleset.notes]
    files["dashboards/overview.json"] = json.dumps(overview(), indent=2)
    prometheus, skipped = with_exporters(
        prometheus_config(targets_dir, alertmanager, scrape_interval), exporters
    )
    files[PROMETHEUS_FILE] = _yaml(prometheus)
    notes += skipped
    am = alertmanager_config([m.routing for m in models], receivers)
    route = am.config["route"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        route[key] = scale_duration(route[key], time_scale)
    files[ALERTMANAGER_FILE] = _yaml(am.config)
    files[ROUTE_TESTS_FILE] = _yaml(
        [{"labels": labels, "receivers": list(expected)} for labels, expected in am.expectations]
    )
    notes += list(am.notes)
    files[NOTES_FILE] = "# What this bundle assumed\n\n" + (
        "".join(f"- {n}\n" for n in notes) if notes else "Nothing: every model had its SLO.\n"
    )
    return Bundle(files, tuple(notes))


def write_bundle(bundle: Bundle, out: Path) -> None:
    """Write every file to a temporary sibling directory, then swap it in whole."""
    out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise Unavailable(f"cannot write the bundle next to {out} ({exc.strerror})") from None
    try:
        for relative, text in bundle.files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

"""A whole bundle is written atomically and proved by promtool and amtool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from baton.core import drift as drift_core
from baton.core.manifest import SLO
from baton.core.roles import default_matrix
from baton.errors import BadInput
from baton.monitor.alertmanager import parse_receivers, routing_for
from baton.monitor.bundle import Bundle, MonitoredModel, build_bundle, write_bundle
from baton.monitor.check import check_bundle
from baton.monitor.slo_rules import RUNBOOK_URL
from tests.monitor.conftest import need

DEFAULT = SLO(p99_latency_ms=100, max_error_rate=0.01)


def models() -> list[MonitoredModel]:
    matrix = default_matrix()
    return [
        MonitoredModel("digits", 3, SLO(p99_latency_ms=25, max_error_rate=0.001),
                       routing_for("digits", matrix.for_owner("research-vision"))),
        MonitoredModel("legacy", 1, None, routing_for("legacy", matrix.for_owner("research-nlp"))),
    ]  # fmt: skip


def test_bundle_has_every_part_and_passes_every_check(tmp_path: Path) -> None:
    need("promtool")
    need("amtool")
    bundle = build_bundle(models(), parse_receivers(None), DEFAULT, targets_dir=tmp_path / "sd")
    out = tmp_path / "bundle"
    write_bundle(bundle, out)
    for name in ("prometheus.yml", "alertmanager.yml", "rules/digits.rules.yaml",
                 "rules/legacy.rules.test.yaml", "dashboards/overview.json",
                 "dashboards/digits.json", "NOTES.md"):  # fmt: skip
        assert (out / name).is_file(), name
    results = check_bundle(out)
    failed = [r for r in results if not r.passed]
    assert not failed, "\n".join(f"{r.check} {r.target}: {r.message}" for r in failed)
    assert {r.check for r in results} >= {
        "promtool check rules", "promtool test rules", "promtool check config",
        "amtool check-config", "amtool config routes test",
    }  # fmt: skip
    assert sum(r.check == "amtool config routes test" for r in results) == 4
    notes = (out / "NOTES.md").read_text()
    assert "legacy: no slo in baton.yaml: using the team default" in notes


def test_rewriting_swaps_the_whole_bundle(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    write_bundle(Bundle({"prometheus.yml": "a", "rules/x.rules.yaml": "x"}, ()), out)
    write_bundle(Bundle({"prometheus.yml": "b"}, ()), out)
    assert (out / "prometheus.yml").read_text() == "b"
    assert not (out / "rules").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_a_failed_write_leaves_the_good_bundle_in_place(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    write_bundle(Bundle({"prometheus.yml": "good"}, ()), out)
    with pytest.raises(ValueError, match="null"):
        write_bundle(Bundle({"prometheus.yml": "new", "bad\0name": "x"}, ()), out)
    assert (out / "prometheus.yml").read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_checking_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="is not a monitoring bundle"):
        check_bundle(tmp_path)


def test_a_broken_bundle_fails_its_checks(tmp_path: Path) -> None:
    need("promtool")
    need("amtool")
    out = tmp_path / "bundle"
    write_bundle(build_bundle(models(), parse_receivers(None), DEFAULT,
                              targets_dir=tmp_path / "sd"), out)  # fmt: skip
    rules = out / "rules" / "digits.rules.yaml"
    rules.write_text(rules.read_text().replace("rate(", "rat(", 1))
    failed = {r.check for r in check_bundle(out) if not r.passed}
    assert "promtool check rules" in failed


def test_the_runbook_page_is_the_sites_and_alerts_link_their_section(tmp_path: Path) -> None:
    site = "https://wiki.example.com/ml/runbooks"
    bundle = build_bundle(models(), parse_receivers(None), DEFAULT, targets_dir=tmp_path / "sd",
                          runbook_url=site)  # fmt: skip
    rules = yaml.safe_load(bundle.files["rules/digits.rules.yaml"])
    links = [r["annotations"]["runbook_url"] for g in rules["groups"] for r in g["rules"]
             if "alert" in r]  # fmt: skip
    assert links and all(link == f"{site}#{link.split('#')[1]}" for link in links)
    default = build_bundle(models(), parse_receivers(None), DEFAULT, targets_dir=tmp_path / "d")
    assert RUNBOOK_URL + "#" in default.files["rules/digits.rules.yaml"]


def test_drift_alert_and_panel_use_the_cores_threshold(tmp_path: Path) -> None:
    bundle = build_bundle(models(), parse_receivers(None), DEFAULT, targets_dir=tmp_path / "sd")
    rules = yaml.safe_load(bundle.files["rules/digits.rules.yaml"])
    (drift,) = [
        r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "BatonInputDrift"
    ]
    assert f"> {drift_core.THRESHOLD:g} " in drift["expr"]
    assert f">= {drift_core.MIN_SAMPLES}" in drift["expr"]
    assert f"PSI above {drift_core.THRESHOLD:g}" in drift["annotations"]["description"]
    board = json.loads(bundle.files["dashboards/digits.json"])
    (panel,) = [p for p in board["panels"] if p.get("title") == "Input drift (PSI) by feature"]
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == drift_core.THRESHOLD

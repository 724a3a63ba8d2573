"""Rules derived from a model's SLO are proved by promtool: syntax, and each alert's test."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from baton.core import metric_names as m
from baton.core.manifest import SLO
from baton.monitor.promtool import check_rules, run_rule_tests
from baton.monitor.slo_rules import ModelTarget, le_label, rule_file, rule_tests, scale_durations
from tests.monitor.conftest import need

DEFAULT = SLO(p99_latency_ms=100, max_error_rate=0.01)


def write(ruleset_target: ModelTarget, folder: Path) -> tuple[Path, Path, list[str]]:
    ruleset = rule_file(ruleset_target, DEFAULT)
    rules = folder / f"{ruleset_target.model}.rules.yaml"
    rules.write_text(yaml.safe_dump(ruleset.rules, sort_keys=False))
    tests = folder / f"{ruleset_target.model}.rules.test.yaml"
    tests.write_text(yaml.safe_dump(rule_tests(ruleset, rules.name), sort_keys=False))
    return rules, tests, list(ruleset.notes)


@pytest.mark.parametrize(
    "slo",
    [
        SLO(p99_latency_ms=25, max_error_rate=0.001),
        SLO(p99_latency_ms=30),  # between buckets: measured against the 50 ms bucket
        None,  # the team default
        SLO(max_error_rate=0.05),  # no latency objective; too loose for the fast windows
    ],
)
def test_generated_rules_pass_promtool_and_their_tests(tmp_path: Path, slo: SLO | None) -> None:
    need("promtool")
    target = ModelTarget("digits-classifier", "3", "serving-oncall", slo)
    rules, tests, _notes = write(target, tmp_path)
    checked = check_rules(rules)
    assert checked.passed, checked.message
    tested = run_rule_tests(tests)
    assert tested.passed, tested.message


def test_every_alert_has_the_contract_labels_and_a_runbook() -> None:
    ruleset = rule_file(ModelTarget("m", "1", "team-a", SLO(p99_latency_ms=10)), DEFAULT)
    alerts = [r for g in ruleset.rules["groups"] for r in g["rules"] if "alert" in r]
    assert {a["alert"] for a in alerts} == {
        "BatonLatencyBudgetFastBurn",
        "BatonLatencyBudgetSlowBurn",
        "BatonAvailabilityBudgetFastBurn",
        "BatonAvailabilityBudgetSlowBurn",
        "BatonQueueDominates",
        "BatonModelNotServed",
        "BatonReplicaDown",
        "BatonInputDrift",
    }
    for alert in alerts:
        assert alert["labels"]["team"] == "team-a"
        assert alert["labels"]["model"] == "m"
        assert alert["labels"]["severity"] in {"critical", "warning"}
        assert alert["annotations"]["runbook_url"].endswith("#" + alert["alert"].lower())
        assert "$value" not in str(alert["annotations"])


def test_latency_records_use_the_bucket_the_server_exposes() -> None:
    ruleset = rule_file(ModelTarget("m", "1", "t", SLO(p99_latency_ms=10)), DEFAULT)
    slow = [r for r in ruleset.rules["groups"][0]["rules"] if "slow" in r["record"]]
    assert slow
    assert all(f'le="{le_label(0.01)}"' in r["expr"] for r in slow)
    assert 0.01 in m.LATENCY_BUCKETS


def test_a_planted_rule_bug_is_caught_by_the_generated_tests(tmp_path: Path) -> None:
    """The tests are not vacuous: loosen an alert and its firing test fails."""
    need("promtool")
    target = ModelTarget("m", "1", "t", SLO(p99_latency_ms=25, max_error_rate=0.001))
    rules, tests, _ = write(target, tmp_path)
    planted = yaml.safe_load(rules.read_text())
    for group in planted["groups"]:
        for rule in group["rules"]:
            rule["expr"] = rule["expr"].replace('code=~"5..|429"', 'code=~"6.."')
    rules.write_text(yaml.safe_dump(planted, sort_keys=False))
    tested = run_rule_tests(tests)
    assert not tested.passed
    assert "BatonAvailabilityBudgetFastBurn" in tested.message


def test_windows_too_loose_to_ever_fire_are_left_out_with_a_note() -> None:
    ruleset = rule_file(ModelTarget("m", "1", "t", SLO(max_error_rate=0.2)), DEFAULT)
    names = {r["alert"] for g in ruleset.rules["groups"] for r in g["rules"] if "alert" in r}
    assert "BatonAvailabilityBudgetFastBurn" not in names
    assert "BatonAvailabilityBudgetSlowBurn" in names
    assert any("too loose for the 1h, 6h burn window(s)" in n for n in ruleset.notes)


def test_time_scaled_rules_keep_their_meaning(tmp_path: Path) -> None:
    """At 60x speed every window shrinks, and the same tests still fire and stay silent."""
    need("promtool")
    target = ModelTarget("m", "1", "t", SLO(p99_latency_ms=25, max_error_rate=0.001))
    ruleset = rule_file(target, DEFAULT, time_scale=60)
    rules = tmp_path / "m.rules.yaml"
    rules.write_text(yaml.safe_dump(ruleset.rules, sort_keys=False))
    text = rules.read_text()
    assert "[5s]" in text
    assert "[60s]" in text
    assert "[5m]" not in text
    assert "for: 10s" in text  # 2m / 60, raised to the floor that target discovery needs
    tests = tmp_path / "m.rules.test.yaml"
    tests.write_text(yaml.safe_dump(rule_tests(ruleset, rules.name), sort_keys=False))
    checked = check_rules(rules)
    assert checked.passed, checked.message
    tested = run_rule_tests(tests)
    assert tested.passed, tested.message


def test_scale_durations_formats() -> None:
    assert scale_durations({"for": "2m", "expr": "rate(x[3d])"}, 60) == {
        "for": "10s",
        "expr": "rate(x[4320s])",
    }
    assert scale_durations({"interval": "1m"}, 120) == {"interval": "500ms"}


def test_every_alert_links_to_a_runbook_section_that_exists() -> None:
    import re

    runbooks = Path(__file__).parents[2] / "docs" / "runbooks.md"
    anchors = {h.lower() for h in re.findall(r"^## (\w+)", runbooks.read_text(), re.M)}
    ruleset = rule_file(ModelTarget("m", "1", "t", SLO(p99_latency_ms=10)), DEFAULT)
    for group in ruleset.rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["annotations"]["runbook_url"].split("#")[1] in anchors, rule["alert"]


def test_disconnects_neither_spend_the_budget_nor_hide_errors(tmp_path: Path) -> None:
    """The generated tests carry a flood of 499s (as many as all other requests): counted
    as errors the healthy test fires; counted as requests they halve the error ratio and
    the firing tests stay silent."""
    need("promtool")
    target = ModelTarget("m", "1", "t", SLO(p99_latency_ms=25, max_error_rate=0.001))
    rules, tests, _ = write(target, tmp_path)
    assert run_rule_tests(tests).passed
    original = rules.read_text()
    for planted, failing in (
        (('code=~"5..|429"', 'code=~"5..|429|499"'), "healthy traffic raises no alert"),
        ((',code!="499"', ""), "BatonAvailabilityBudgetFastBurn fires on its fault"),
    ):
        rules.write_text(original.replace(*planted))
        tested = run_rule_tests(tests)
        assert not tested.passed
        assert f"name: {failing}," in tested.message

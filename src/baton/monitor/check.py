"""``baton monitor check DIR``: prove a bundle with the tools Prometheus itself ships."""

from __future__ import annotations

from pathlib import Path

from baton.errors import BadInput
from baton.monitor.bundle import ALERTMANAGER_FILE, PROMETHEUS_FILE, ROUTE_TESTS_FILE
from baton.monitor.bundle_exporters import RULE_TESTS_GLOB, RULES_GLOB
from baton.monitor.promtool import (
    CheckResult,
    check_alertmanager_config,
    check_config,
    check_rules,
    route_test,
    run_rule_tests,
)
from baton.yaml_files import YamlLimits, load_yaml


def check_bundle(folder: Path) -> list[CheckResult]:
    """Every check, in the order a person would read them; each says what the tool said."""
    if not (folder / PROMETHEUS_FILE).is_file():
        raise BadInput(
            f"{folder} is not a monitoring bundle (no {PROMETHEUS_FILE}): "
            "make one with `baton monitor bundle --out DIR`"
        )
    results: list[CheckResult] = []
    rules = sorted((folder / "rules").glob("*.rules.yaml")) + sorted(folder.glob(RULES_GLOB))
    if rules:
        results.append(check_rules(*rules))
    tests = sorted((folder / "rules").glob("*.rules.test.yaml")) + sorted(
        folder.glob(RULE_TESTS_GLOB)
    )
    if tests:
        results.append(run_rule_tests(*tests))
    results.append(check_config(folder / PROMETHEUS_FILE))
    am = folder / ALERTMANAGER_FILE
    if am.is_file():
        results.append(check_alertmanager_config(am))
        route_tests = folder / ROUTE_TESTS_FILE
        expectations = load_yaml(route_tests.read_text(), str(route_tests), YamlLimits()) or []
        results += [route_test(am, e["labels"], e["receivers"]) for e in expectations]
    return results

"""promtool and amtool runs: the verdict, and the tool's own words when it says no."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.errors import Unavailable
from baton.monitor import promtool

GOOD_RULES = """
groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 1m
        labels: {severity: critical}
"""
GOOD_TEST = """
rule_files: [rules.yaml]
tests:
  - interval: 1m
    input_series:
      - {series: 'up{job="a"}', values: '0x5'}
    alert_rule_test:
      - eval_time: 3m
        alertname: Down
        exp_alerts: [{exp_labels: {severity: critical, job: a}}]
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_rules_passes_good_rules(promtool_bin: Path, tmp_path: Path) -> None:
    result = promtool.check_rules(_write(tmp_path, "rules.yaml", GOOD_RULES))
    assert result.passed and result.returncode == 0
    assert "1 rules found" in result.message


def test_check_rules_reports_promtools_words_on_bad_promql(
    promtool_bin: Path, tmp_path: Path
) -> None:
    bad = GOOD_RULES.replace("up == 0", "rate(up[5m]")
    result = promtool.check_rules(_write(tmp_path, "rules.yaml", bad))
    assert not result.passed
    assert "rules.yaml" in result.message and "parse error" in result.message


def test_rule_tests_pass_and_fail_on_the_expectation(promtool_bin: Path, tmp_path: Path) -> None:
    _write(tmp_path, "rules.yaml", GOOD_RULES)
    good = promtool.run_rule_tests(_write(tmp_path, "ok.test.yaml", GOOD_TEST))
    assert good.passed, good.message
    wrong = GOOD_TEST.replace("severity: critical, job: a", "severity: warning, job: a")
    bad = promtool.run_rule_tests(_write(tmp_path, "bad.test.yaml", wrong))
    assert not bad.passed
    assert "FAILED" in bad.message and "Down" in bad.message


def test_check_config_follows_rule_files(promtool_bin: Path, tmp_path: Path) -> None:
    rules = _write(tmp_path, "rules.yaml", GOOD_RULES)
    config = _write(
        tmp_path,
        "prometheus.yml",
        f"rule_files: [{rules}]\nscrape_configs:\n  - job_name: a\n"
        "    static_configs: [{targets: ['localhost:1']}]\n",
    )
    assert promtool.check_config(config).passed
    rules.write_text(GOOD_RULES.replace("up == 0", "up =="), encoding="utf-8")
    failed = promtool.check_config(config)
    assert not failed.passed and "rules.yaml" in failed.message


def test_check_metrics_passes_clean_and_lint_only_expositions(promtool_bin: Path) -> None:
    clean = promtool.check_metrics("# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n")
    assert clean.passed and clean.returncode == 0 and clean.message == ""
    lint_only = promtool.check_metrics("# HELP x Things.\n# TYPE x counter\nx 3\n")
    assert lint_only.passed and lint_only.returncode == promtool.LINT_EXIT
    assert '"_total" suffix' in lint_only.message
    broken = promtool.check_metrics("x{a= 3\n")
    assert not broken.passed and "parsing error" in broken.message


def test_amtool_checks_an_alertmanager_config(amtool_bin: Path, tmp_path: Path) -> None:
    good = _write(
        tmp_path,
        "good.yml",
        "route: {receiver: team}\nreceivers:\n  - name: team\n"
        "    webhook_configs: [{url: 'http://127.0.0.1:9/hook'}]\n",
    )
    assert promtool.check_alertmanager_config(good).passed
    bad = _write(tmp_path, "bad.yml", "route: {receiver: nobody}\nreceivers: [{name: team}]\n")
    result = promtool.check_alertmanager_config(bad)
    assert not result.passed and "nobody" in result.message


def test_a_missing_tool_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: nothing is installed
    with pytest.raises(Unavailable) as err:
        promtool.check_rules(tmp_path / "rules.yaml")
    assert err.value.message == (
        "promtool is not installed: install Debian's prometheus package "
        "(apt-get install -y prometheus)"
    )
    with pytest.raises(Unavailable, match="prometheus-alertmanager"):
        promtool.locate("amtool")

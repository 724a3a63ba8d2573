"""``baton monitor bundle`` and ``check`` end to end, in a subprocess, on the real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.baton_cli import baton, clean_env, free_port
from tests.handover_factory import write_handover
from tests.monitor.conftest import need


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", BATON_USER="ops")


def test_bundle_then_check(env: dict[str, str], tmp_path: Path) -> None:
    need("promtool")
    need("amtool")
    folder = write_handover(tmp_path / "h", slo={"p99_latency_ms": 25, "max_error_rate": 0.001})
    assert baton(env, "register", str(folder)).returncode == 0
    none = baton(env, "monitor", "bundle", "--out", str(tmp_path / "b"))
    assert none.returncode == 2
    assert "no model has a staging or production alias" in none.stderr

    made = baton(env, "monitor", "bundle", "toy", "--out", str(tmp_path / "b"), "--json")
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert "rules/toy.rules.yaml" in report["files"]
    assert any("watching version 1" in n for n in report["notes"])

    fast = baton(env, "monitor", "bundle", "toy", "--out", str(tmp_path / "fast"),
                 "--time-scale", "60", "--scrape-interval", "1s")  # fmt: skip
    assert fast.returncode == 0, fast.stderr
    assert "scrape_interval: 1s" in (tmp_path / "fast" / "prometheus.yml").read_text()
    assert "for: 10s" in (tmp_path / "fast" / "rules" / "toy.rules.yaml").read_text()
    assert "group_wait: 500ms" in (tmp_path / "fast" / "alertmanager.yml").read_text()

    checked = baton(env, "monitor", "check", str(tmp_path / "b"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "FAIL" not in checked.stdout

    rules = tmp_path / "b" / "rules" / "toy.rules.yaml"
    rules.write_text(rules.read_text().replace("rate(", "rat(", 1))
    broken = baton(env, "monitor", "check", str(tmp_path / "b"))
    assert broken.returncode == 1
    assert "monitoring checks failed" in broken.stderr


def test_bad_receivers_file_is_exit_2_and_writes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    receivers = tmp_path / "receivers.yaml"
    receivers.write_text("teams:\n  serving:\n    critical: {type: pager}\n")
    result = baton(env, "monitor", "bundle", "toy", "--out", str(tmp_path / "b"),
                   "--receivers", str(receivers))  # fmt: skip
    assert result.returncode == 2
    assert "receivers.yaml: teams.serving.critical" in result.stderr
    assert not (tmp_path / "b").exists()


def test_team_default_slo_comes_from_the_policy_file(env: dict[str, str], tmp_path: Path) -> None:
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0  # no slo
    policy = tmp_path / "policy.yaml"
    policy.write_text("default_slo: {p99_latency_ms: 50, max_error_rate: 0.01}\n")
    made = baton({**env, "BATON_POLICY": str(policy)}, "monitor", "bundle", "toy",
                 "--out", str(tmp_path / "b"), "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    notes = json.loads(made.stdout)["notes"]
    assert "toy: no slo in baton.yaml: using the team default" in notes
    rules = yaml.safe_load((tmp_path / "b" / "rules" / "toy.rules.yaml").read_text())
    slow = [r for r in rules["groups"][0]["rules"] if "slow" in r["record"]]
    assert slow
    assert all('le="0.05"' in r["expr"] for r in slow)


def test_added_exporters_join_the_bundle_its_check_and_its_regeneration(
    env: dict[str, str], tmp_path: Path
) -> None:
    need("promtool")
    need("amtool")
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    out = tmp_path / "b"
    assert baton(env, "monitor", "bundle", "toy", "--out", str(out)).returncode == 0
    added = baton(env, "exporters", "add", "node_exporter", "baton", "--out", str(out))
    assert added.returncode == 0, added.stderr
    assert "already has a job named 'baton'" in added.stdout  # the bundle's own job stays

    def jobs() -> list[str]:
        config = yaml.safe_load((out / "prometheus.yml").read_text())
        assert "exporters/node_exporter/rules.yaml" in config["rule_files"]
        return [j["job_name"] for j in config["scrape_configs"]]

    assert jobs() == ["baton", "node"]
    assert (out / "dashboards" / "exporters" / "node_exporter.json").is_file()
    checked = json.loads(baton(env, "monitor", "check", str(out), "--json").stdout)
    tested = " ".join(r["target"] for r in checked if r["check"] == "promtool test rules")
    assert "exporters/node_exporter/rules.test.yaml" in tested
    assert all(r["passed"] for r in checked), checked

    again = baton(env, "monitor", "bundle", "toy", "--out", str(out), "--json")
    assert again.returncode == 0, again.stderr
    assert "exporters/node_exporter/rules.yaml" in json.loads(again.stdout)["files"]
    assert jobs() == ["baton", "node"]
    more = baton(env, "monitor", "bundle", "toy", "--out", str(out), "--exporter", "redis_exporter")
    assert more.returncode == 0, more.stderr
    assert jobs() == ["baton", "node", "redis"]
    assert baton(env, "monitor", "check", str(out)).returncode == 0


def test_up_and_down_print_json(env: dict[str, str], tmp_path: Path) -> None:
    """Issue 14.12: monitor up and down take --json, like every command."""
    need("prometheus")
    need("alertmanager")
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    assert baton(env, "alias", "set", "toy@production", "1").returncode == 0
    prom, am = free_port(), free_port()
    started = baton(env, "monitor", "up", "--prometheus-port", str(prom),
                    "--alertmanager-port", str(am), "--json")  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr
        said = json.loads(started.stdout)
        urls = {s["name"]: s["url"] for s in said["services"]}
        assert urls == {"alertmanager": f"http://127.0.0.1:{am}",
                        "prometheus": f"http://127.0.0.1:{prom}"}  # fmt: skip
        assert Path(said["bundle"], "prometheus.yml").is_file()
    finally:
        stopped = baton(env, "monitor", "down", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert sorted(s["name"] for s in json.loads(stopped.stdout)["stopped"]) == [
        "alertmanager",
        "prometheus",
    ]
    assert json.loads(baton(env, "monitor", "down", "--json").stdout) == {"stopped": []}


def test_the_site_runbook_page_comes_from_baton_runbook_url(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    site = {**env, "BATON_RUNBOOK_URL": "https://wiki.example.com/ml/runbooks"}
    made = baton(site, "monitor", "bundle", "toy", "--out", str(tmp_path / "b"))
    assert made.returncode == 0, made.stderr
    rules = (tmp_path / "b" / "rules" / "toy.rules.yaml").read_text()
    assert "runbook_url: https://wiki.example.com/ml/runbooks#baton" in rules
    assert "github.com/modelbaton" not in rules
    bad = baton({**env, "BATON_RUNBOOK_URL": "wiki/runbooks"}, "monitor", "bundle", "toy",
                "--out", str(tmp_path / "c"))  # fmt: skip
    assert bad.returncode == 2 and "runbook_url" in bad.stderr, bad.stderr
    assert bad.stderr.count("\n") == 1 and not (tmp_path / "c").exists()

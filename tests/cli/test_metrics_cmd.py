"""``baton metrics`` as a real process, with a team's metric package pip-installed beside it,
and that package's metric claimed through ``baton evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.baton_cli import baton, clean_env
from tests.evaluate.metric_package import TEAM_ENTRIES, TEAM_METRICS, install, with_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("team-metrics-cli")
    return install(root / "site", "teamx-metrics", "teamx_metrics", TEAM_METRICS, TEAM_ENTRIES)


def test_lists_built_in_metrics_then_a_package_s_with_its_direction(
    tmp_path: Path, site: Path
) -> None:
    env = clean_env(tmp_path / "home")
    bare = json.loads(baton(env, "metrics", "--json").stdout)
    names = [m["name"] for m in bare["metrics"]]
    for name in ("recall_at_1", "recall_at_5", "recall_at_10", "mrr", "top_5_accuracy"):
        assert name in names
    assert "hit_rate_at_2" not in names and bare["problems"] == []

    with_team = with_site(env, site)
    listed = json.loads(baton(with_team, "metrics", "--json", "--task", "classification").stdout)
    by_name = {m["name"]: m for m in listed["metrics"]}
    assert "recall_at_1" not in by_name
    assert by_name["hit_rate_at_2"] == {
        "name": "hit_rate_at_2",
        "task": "classification",
        "higher_is_better": True,
        "source": "package teamx-metrics 1.2.0",
        "summary": "Truth among the two top classes.",
    }
    assert by_name["worst_class_recall"]["higher_is_better"] is None
    table = baton(with_team, "metrics")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "worst_class_recall" in line)
    assert "undeclared" in row and "package" in row
    assert "recall_at_k = recall_at_5" in table.stdout

    policy = tmp_path / "policy.yaml"
    policy.write_text("regression: {higher_is_better: {worst_class_recall: false}}\n")
    told = json.loads(baton({**with_team, "BATON_POLICY": str(policy)}, "metrics", "--json").stdout)
    assert {m["name"]: m for m in told["metrics"]}["worst_class_recall"][
        "higher_is_better"
    ] is False
    bad = baton(env, "metrics", "--task", "vision")
    assert bad.returncode == 2 and "pick one of classification" in bad.stderr


def test_a_claimed_package_metric_passes_parity_only_where_installed(
    tmp_path: Path, site: Path, digits_handover: Path
) -> None:
    manifest = yaml.safe_load((digits_handover / "baton.yaml").read_text())
    manifest["eval"]["claimed"] = {"hit_rate_at_2": 0.99}
    manifest["eval"]["tolerance"] = 0.02
    (digits_handover / "baton.yaml").write_text(yaml.safe_dump(manifest))
    env = clean_env(tmp_path / "home", BATON_USER="ci")
    assert baton(env, "register", str(digits_handover)).returncode == 0

    without = baton(env, "evaluate", "digits-classifier:1", "--quick", "--json")
    assert without.returncode == 1
    reason = json.loads(without.stdout)["report"]["checks"]["parity"]["reasons"][0]
    assert "hit_rate_at_2 is claimed but baton does not measure it" in reason

    found = baton(with_site(env, site), "evaluate", "digits-classifier:1", "--quick", "--json")
    assert found.returncode == 0, found.stdout[-2000:]
    report = json.loads(found.stdout)["report"]
    assert report["checks"]["parity"]["reasons"][0].startswith("hit_rate_at_2 0.99")
    shown = baton(with_site(env, site), "report", "digits-classifier:1")
    assert "hit_rate_at_2" in shown.stdout

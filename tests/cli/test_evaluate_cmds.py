"""``baton evaluate`` and ``baton report`` as real processes: exit codes 0 / 1 / 2, JSON, HTML."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.baton_cli import baton, clean_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", BATON_USER="ci")


def test_evaluate_passes_then_report_renders_json_and_html(
    env: dict[str, str], digits_source: Path, tmp_path: Path
) -> None:
    assert baton(env, "register", str(digits_source)).returncode == 0
    result = baton(env, "evaluate", "digits-classifier:1", "--quick")
    assert result.returncode == 0, result.stderr
    assert "digits-classifier:1  passed" in result.stdout
    assert "recommended: fp32" in result.stdout
    recommended = result.stdout[result.stdout.index("recommended: ") :]
    assert "rows/s in-process" in recommended and "req/s" not in recommended
    assert "rows/s in-process" in result.stdout.split("performance")[1].split("\n")[0]
    assert "lowest recall per class: " in result.stdout
    assert "baton report digits-classifier:1 --html" in result.stdout

    html = tmp_path / "r.html"
    shown = baton(env, "report", "digits-classifier@candidate", "--html", str(html), "--json")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["status"] == "passed" and record["actor"] == "ci"
    assert record["recommended"]["cores"] == 1
    assert html.read_text().startswith("<!doctype html>")
    table = baton(env, "report", "digits-classifier:1")
    assert "parity" in table.stdout and "performance" in table.stdout


def test_a_failing_gate_exits_1_with_one_line(env: dict[str, str], digits_handover: Path) -> None:
    manifest = yaml.safe_load((digits_handover / "baton.yaml").read_text())
    manifest["eval"]["claimed"] = {"accuracy": 0.5}
    (digits_handover / "baton.yaml").write_text(yaml.safe_dump(manifest))
    baton(env, "register", str(digits_handover))
    result = baton(env, "evaluate", "digits-classifier:1", "--quick", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["report"]["checks"]["parity"]["status"] == "failed"
    assert "digits-classifier:1 failed the gate (parity)" in result.stderr
    assert result.stderr.count("\n") == 1


BAD_INPUT = [
    (["evaluate", "digits-classifier:1", "--against", "9", "--quick"], "has no version 9"),
    (["evaluate", "digits-classifier:1", "--against", "production"], "no alias @production"),
    (["evaluate", "digits-classifier:1", "--quick", "--full"], "exclude each other"),
    (["evaluate", "digits-classifier:1", "--policy", "/nope.yaml"], "does not exist"),
    (["report", "digits-classifier:1"], "has not been evaluated yet"),
]


def test_bad_input_is_exit_2_one_line_and_stores_nothing(
    env: dict[str, str], digits_handover: Path, tmp_path: Path
) -> None:
    assert baton(env, "register", str(digits_handover)).returncode == 0
    manifest = yaml.safe_load((digits_handover / "baton.yaml").read_text())
    manifest["name"] = "bad-labels"
    (digits_handover / "baton.yaml").write_text(yaml.safe_dump(manifest))
    data = dict(np.load(digits_handover / "eval.npz"))
    np.savez(digits_handover / "eval.npz", input=data["input"], label=data["label"] + 3)
    refused = baton(env, "register", str(digits_handover))  # eval data is read at register
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "labels the model does not know: 10, 11, 12" in refused.stderr
    for args, message in BAD_INPUT:
        result = baton(env, *args)
        assert result.returncode == 2, (args, result.stdout + result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    log = json.loads(baton(env, "log", "--json").stdout)
    assert not any(e["action"].startswith("evaluation") for e in log)


def test_the_team_policy_comes_from_baton_policy(
    env: dict[str, str], digits_source: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("require_slo: true\nregression:\n  max_dorp: 1\n")
    baton(env, "register", str(digits_source))
    result = baton({**env, "BATON_POLICY": str(policy)}, "evaluate", "digits-classifier:1")
    assert result.returncode == 2
    assert "policy.yaml: regression.max_dorp: unknown field" in result.stderr

"""``baton exporters`` through the real command: tables, --json, files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from baton.monitor import hub, promtool
from tests.monitor.conftest import need


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    out.update(BATON_HOME=str(tmp_path / "home"), COLUMNS="200")
    return out


def baton(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baton.cli.main", "exporters", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_list_shows_every_entry(env: dict[str, str]) -> None:
    table = baton(env, "list")
    assert table.returncode == 0, table.stderr
    for name in hub.names():
        assert name in table.stdout
    rows = json.loads(baton(env, "list", "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == set(hub.names())
    assert by_name["dcgm-exporter"]["port"] == 9400
    assert by_name["dcgm-exporter"]["requires"] == ["gpu", "privileged"]
    assert "DcgmExporterDown" in by_name["dcgm-exporter"]["alerts"]


def test_show_prints_install_steps_metrics_and_rules(env: dict[str, str]) -> None:
    shown = baton(env, "show", "node_exporter")
    assert shown.returncode == 0, shown.stderr
    assert "apt-get install -y prometheus-node-exporter" in shown.stdout
    assert "helm install node_exporter prometheus-community/prometheus-node-exporter" in (
        shown.stdout
    )
    assert "node_cpu_seconds_total" in shown.stdout and "NodeExporterDown" in shown.stdout
    data = json.loads(baton(env, "show", "baton", "--json").stdout)
    assert data["port"] == 8000 and data["install"]["pip"] == "modelbaton==0.1.0"
    assert {"kind": "alert", "name": "BatonServerDown", "severity": "critical", "for": "2m"} in (
        data["rules"]
    )


def test_add_writes_a_bundle_whose_rule_tests_pass(env: dict[str, str], tmp_path: Path) -> None:
    need("promtool")
    out = tmp_path / "bundle"
    added = baton(env, "add", "node_exporter", "redis_exporter", "--out", str(out))
    assert added.returncode == 0, added.stderr
    assert "added node_exporter" in added.stdout and "added redis_exporter" in added.stdout
    for name in ("node_exporter", "redis_exporter"):
        folder = out / "exporters" / name
        assert sorted(p.name for p in folder.iterdir()) == sorted(hub.BUNDLE_FILES)
        result = promtool.run_rule_tests(folder / hub.RULE_TESTS)
        assert result.passed, result.message
    again = json.loads(baton(env, "add", "node_exporter", "--out", str(out), "--json").stdout)
    assert again["added"][0]["replaced"] is True and again["reloaded"] is False
    assert (out / "exporters" / "exporters.yaml").read_text().count("_exporter") == 2


def test_an_unknown_exporter_is_bad_input_and_writes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    result = baton(env, "add", "node_exporter", "nvidia", "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown exporter 'nvidia'" in lines[0]
    assert "known: baton, blackbox_exporter" in lines[0]
    assert not out.exists()  # node_exporter, named first, was not added either
    assert baton(env, "show", "nvidia").returncode == 2


def test_a_file_as_bundle_directory_is_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "bundle.yaml"
    out.write_text("mine")
    result = baton(env, "add", "baton", "--out", str(out))
    assert result.returncode == 2 and "is a file" in result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_text() == "mine"

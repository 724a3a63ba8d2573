"""``baton audit`` as a user runs it: a fleet.yaml, a real Prometheus, every output form."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from baton.audit.fleet_file import fleet_entry
from tests.audit.verdict_fleet import (
    EXPECTED,
    VerdictFleet,
    verdict_fleet,  # noqa: F401  (the fixture)
)
from tests.baton_cli import baton, clean_env, free_port
from tests.handover_factory import write_handover
from tests.monitor.conftest import need


@pytest.fixture(scope="module")
def fleet_file(verdict_fleet: VerdictFleet, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    path = tmp_path_factory.mktemp("fleet") / "fleet.yaml"
    entries = [fleet_entry(d) for d in verdict_fleet.deployments]
    path.write_text(yaml.safe_dump({"deployments": entries}), encoding="utf-8")
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", BATON_USER="ops")


def audit_args(fleet: VerdictFleet, fleet_file: Path, *extra: str) -> list[str]:
    end = datetime.fromtimestamp(fleet.end, UTC).isoformat()
    return ["audit", "--fleet", str(fleet_file), "--no-servers",
            "--prometheus", fleet.prometheus.url, "--window", "3d", "--end", end,
            "--rate-window", "15m", "--headroom", "0.5", "--risk", "0.9", *extra]  # fmt: skip


def test_json_gives_each_deployment_its_verdict(
    env: dict[str, str],
    verdict_fleet: VerdictFleet,  # noqa: F811
    fleet_file: Path,
) -> None:
    done = baton(env, *audit_args(verdict_fleet, fleet_file, "--json"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    got = {r["name"]: r["verdict"] for r in report["rows"]}
    assert got == EXPECTED


def test_table_html_and_fail_on_risk(
    env: dict[str, str],
    verdict_fleet: VerdictFleet,  # noqa: F811
    fleet_file: Path,
    tmp_path: Path,
) -> None:
    html = tmp_path / "out" / "audit.html"
    done = baton(env, *audit_args(verdict_fleet, fleet_file, "--html", str(html),
                                  "--fail-on", "risk"))  # fmt: skip
    assert done.returncode == 1
    assert "2 deployment(s) at risk: " in done.stderr
    assert "slow" in done.stderr and "hot" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "at risk" in done.stdout and "under-provisioned" in done.stdout
    page = html.read_text(encoding="utf-8")
    for name in EXPECTED:
        assert name in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "14days"], "--window: '14days' is not a duration"),
        (["--end", "yesterday"], "--end: 'yesterday' is not a time"),
        (["--fail-on", "drift"], "--fail-on 'drift': choose one of risk, none"),
        (["--prices", "missing.yaml"], "missing.yaml"),
    ],
)
def test_bad_options_are_one_line_exit_2(
    env: dict[str, str],
    verdict_fleet: VerdictFleet,  # noqa: F811
    fleet_file: Path,
    args: list[str],
    message: str,
) -> None:
    done = baton(env, *audit_args(verdict_fleet, fleet_file, *args))
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_an_unreachable_prometheus_is_one_line(
    env: dict[str, str], fleet_file: Path, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = baton(env, "audit", "--fleet", str(fleet_file), "--no-servers", "--prometheus", url)
    assert done.returncode == 2
    assert "unreachable" in done.stderr and url in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_malformed_fleet_file_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("deployments:\n  - name: x\n    model: m\n    version: 1\n    replicas: 1\n"
                   "    resources: {cores: 2, memory: 2GB}\n")  # fmt: skip
    done = baton(env, "audit", "--fleet", str(bad), "--no-servers")
    assert done.returncode == 2
    assert "2GB" in done.stderr and "memory" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_nothing_to_audit_says_how_to_give_an_inventory(env: dict[str, str]) -> None:
    done = baton(env, "audit", "--no-servers")
    assert done.returncode == 2
    assert "nothing to audit" in done.stderr and "--fleet" in done.stderr


def test_a_window_longer_than_the_data_reports_missing_data_not_guesses(
    env: dict[str, str],
    verdict_fleet: VerdictFleet,  # noqa: F811
    fleet_file: Path,
) -> None:
    args = audit_args(verdict_fleet, fleet_file, "--json")
    args[args.index("3d")] = "30d"
    done = baton(env, *args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    verdicts = {r["verdict"] for r in report["rows"]}
    assert verdicts == {"insufficient data"}


def test_kubernetes_manifests_are_an_inventory_too(
    env: dict[str, str],
    verdict_fleet: VerdictFleet,  # noqa: F811
) -> None:
    """Deployments Prometheus never saw get rows that say so, not recommendations."""
    k8s = Path(__file__).parents[2] / "examples" / "fleet" / "k8s"
    done = baton(env, "audit", "--manifests", str(k8s), "--no-servers", "--json",
                 "--prometheus", verdict_fleet.prometheus.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert rows and {r["deployment"]["source"] for r in rows} <= {"kubernetes", "kserve"}
    assert {r["verdict"] for r in rows} == {"insufficient data"}
    assert all("requests" in r["observed"]["missing"] for r in rows)


def test_the_audit_reads_the_prometheus_monitor_up_started(
    env: dict[str, str],
    verdict_fleet: VerdictFleet,  # noqa: F811
    fleet_file: Path,
    tmp_path: Path,
) -> None:
    """After `monitor up --prometheus-port P` the audit reads :P, not :9090; an explicit
    BATON_PROMETHEUS_URL or --prometheus still wins (issue 14, item 8)."""
    need("prometheus")
    need("alertmanager")
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    assert baton(env, "alias", "set", "toy@production", "1").returncode == 0  # to watch
    port = free_port()
    up = baton(env, "monitor", "up", "--prometheus-port", str(port),
               "--alertmanager-port", str(free_port()))  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        args = audit_args(verdict_fleet, fleet_file, "--json")
        at = args.index("--prometheus")
        del args[at : at + 2]
        found = baton(env, *args)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["prometheus_url"] == f"http://127.0.0.1:{port}"
        told = baton({**env, "BATON_PROMETHEUS_URL": verdict_fleet.prometheus.url}, *args)
        assert told.returncode == 0, told.stderr
        report = json.loads(told.stdout)
        assert report["prometheus_url"] == verdict_fleet.prometheus.url
        assert {r["name"]: r["verdict"] for r in report["rows"]} == EXPECTED
    finally:
        baton(env, "monitor", "down")


def test_an_eighty_column_terminal_gets_blocks_not_a_crushed_table(
    env: dict[str, str],
    verdict_fleet: VerdictFleet,  # noqa: F811
    fleet_file: Path,
) -> None:
    done = baton({**env, "COLUMNS": "80"}, *audit_args(verdict_fleet, fleet_file))
    assert done.returncode == 0, done.stderr
    assert "┃" not in done.stdout and "…" not in done.stdout
    assert all(len(line) <= 80 for line in done.stdout.splitlines())
    for name, verdict in EXPECTED.items():
        assert f"\n{name}  " in done.stdout
        assert verdict in done.stdout


def test_each_run_is_stored_and_show_gives_it_back(
    env: dict[str, str],
    verdict_fleet: VerdictFleet,  # noqa: F811
    fleet_file: Path,
) -> None:
    done = baton(env, *audit_args(verdict_fleet, fleet_file))
    assert done.returncode == 0, done.stderr
    assert "saved as audit run 1: `baton audit show 1`" in done.stdout
    shown = baton(env, "audit", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(shown.stdout)
    assert stored["run"]["id"] == 1 and stored["run"]["actor"] == "ops"
    assert stored["run"]["prometheus_url"] == verdict_fleet.prometheus.url
    assert {d["name"]: d["verdict"] for d in stored["deployments"]} == EXPECTED
    savings = [d["savings"] for d in stored["deployments"]]
    assert savings == sorted(savings, reverse=True)
    assert stored["run"]["savings"] == pytest.approx(sum(savings))
    table = baton(env, "audit", "show", "1")
    assert table.returncode == 0, table.stderr
    assert "Audit run 1 by ops at " in table.stdout
    assert all(name in table.stdout for name in EXPECTED)
    log = baton(env, "log", "--json")
    assert [e["action"] for e in json.loads(log.stdout)][:1] == ["audit.run"]


def test_no_save_is_a_dry_run_and_json_keeps_stdout_json(
    env: dict[str, str],
    verdict_fleet: VerdictFleet,  # noqa: F811
    fleet_file: Path,
) -> None:
    dry = baton(env, *audit_args(verdict_fleet, fleet_file, "--no-save"))
    assert dry.returncode == 0, dry.stderr
    assert "saved as" not in dry.stdout + dry.stderr
    nothing = baton(env, "audit", "show")
    assert nothing.returncode == 2
    assert (
        nothing.stderr.strip()
        == "error: no audit is stored yet: run `baton audit` (without --no-save)"
    )
    done = baton(env, *audit_args(verdict_fleet, fleet_file, "--json"))
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["rows"]) == len(EXPECTED)
    assert "saved as audit run 1" in done.stderr


def test_saving_through_a_control_plane_is_refused_before_any_query(
    env: dict[str, str], fleet_file: Path
) -> None:
    remote = {**env, "BATON_URL": "http://127.0.0.1:9", "BATON_TOKEN": "bt_x"}
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: a query would fail otherwise
    args = ["audit", "--fleet", str(fleet_file), "--no-servers", "--prometheus", url]
    done = baton(remote, *args)
    assert done.returncode == 2
    assert "baton audit stores its run in the store itself" in done.stderr
    assert "or pass --no-save" in done.stderr
    dry = baton(remote, *args, "--no-save")
    assert dry.returncode == 2 and "unreachable" in dry.stderr  # got as far as Prometheus

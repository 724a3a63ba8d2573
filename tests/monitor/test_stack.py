"""``baton monitor up``, ``drill`` and ``down`` with the real binaries, in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from tests.baton_cli import baton, clean_env, free_port
from tests.handover_factory import write_handover
from tests.monitor.conftest import Webhook, need
from tests.waiting import wait_until


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", BATON_USER="ops")


def test_up_drill_down(env: dict[str, str], tmp_path: Path, webhook: Webhook) -> None:
    need("prometheus")
    need("alertmanager")
    folder = write_handover(tmp_path / "h", owner="research-vision",
                            slo={"p99_latency_ms": 25, "max_error_rate": 0.001})  # fmt: skip
    assert baton(env, "register", str(folder)).returncode == 0
    assert baton(env, "alias", "set", "toy@production", "1").returncode == 0
    receivers = tmp_path / "receivers.yaml"
    receivers.write_text(yaml.safe_dump({"teams": {"serving": {
        "critical": {"type": "webhook", "url": webhook.url},
    }}}))  # fmt: skip
    prom, am = free_port(), free_port()
    started = baton(env, "monitor", "up", "--receivers", str(receivers),
                    "--prometheus-port", str(prom), "--alertmanager-port", str(am))  # fmt: skip
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"http://127.0.0.1:{prom}" in started.stdout
        assert httpx.get(f"http://127.0.0.1:{prom}/-/ready").status_code == 200
        rules = httpx.get(f"http://127.0.0.1:{prom}/api/v1/rules").json()["data"]["groups"]
        assert "baton-toy-alerts" in {g["name"] for g in rules}

        again = baton(env, "monitor", "up", "--prometheus-port", str(prom))
        assert again.returncode == 1
        assert "already running" in again.stderr

        result = baton(env, "monitor", "drill", "toy", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert report["reached"] == ["research-vision-critical", "serving-critical"]
        assert report["passed"] is True
    finally:
        stopped = baton(env, "monitor", "down")
    assert stopped.returncode == 0
    assert "stopped prometheus" in stopped.stdout
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{prom}/-/ready", timeout=2)
    assert "nothing was running" in baton(env, "monitor", "down").stdout


def test_drill_without_alertmanager_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    result = baton(
        env, "monitor", "drill", "toy", "--alertmanager", f"http://127.0.0.1:{free_port()}"
    )
    assert result.returncode == 2
    assert "cannot reach Alertmanager" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_exporter_added_to_the_running_stack_is_scraped_and_kept(
    env: dict[str, str], tmp_path: Path
) -> None:
    need("prometheus")
    need("alertmanager")
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    assert baton(env, "alias", "set", "toy@production", "1").returncode == 0
    prom, am = free_port(), free_port()
    ports = ("--prometheus-port", str(prom), "--alertmanager-port", str(am))

    def groups() -> set[str]:
        rules = httpx.get(f"http://127.0.0.1:{prom}/api/v1/rules").json()["data"]["groups"]
        return {g["name"] for g in rules}

    def jobs() -> set[str]:
        targets = httpx.get(f"http://127.0.0.1:{prom}/api/v1/targets").json()["data"]
        return {t["labels"]["job"] for t in targets["activeTargets"]}

    assert baton(env, "monitor", "up", *ports).returncode == 0
    try:
        added = baton(env, "exporters", "add", "node_exporter", "--json")
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout)["reloaded"] is True
        node_groups = {g for g in groups() if "node" in g.lower()}
        assert node_groups, groups()
        wait_until(lambda: "node" in jobs(), "Prometheus to scrape the node job")
        assert baton(env, "monitor", "down").returncode == 0
        assert baton(env, "monitor", "up", *ports).returncode == 0
        assert node_groups <= groups()
        wait_until(lambda: "node" in jobs(), "the node job after a restart")
    finally:
        baton(env, "monitor", "down")

"""The whole monitoring path, for real: baton serve -> Prometheus -> Alertmanager -> a team.

A slow model breaches its latency SLO and the alert reaches its teams' webhook receivers;
a healthy model served beside it raises nothing. The bundle runs 60x faster than real time
(every window, ``for`` and grouping wait scaled alike) so the test takes seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from tests.baton_cli import baton, clean_env, free_port, serving
from tests.handover_factory import write_handover
from tests.monitor.conftest import Webhook, need


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", BATON_USER="ops")


def handovers(tmp_path: Path) -> tuple[Path, Path]:
    slow = write_handover(tmp_path / "slow", name="slow", owner="research", seed=5,
                          hidden=(4096, 4096, 4096),  # 1.5 ms a row: 2 x 2048 took 0.1
                          slo={"p99_latency_ms": 1, "max_error_rate": 0.01})  # fmt: skip
    healthy = write_handover(tmp_path / "fast", name="fast", owner="research",
                             slo={"p99_latency_ms": 1000, "max_error_rate": 0.01})  # fmt: skip
    return slow, healthy


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    for folder in handovers(tmp_path):
        assert baton(env, "register", str(folder)).returncode == 0
        name = folder.name
        assert baton(env, "alias", "set", f"{name}@production", "1").returncode == 0
    with serving(env, "slow", "fast", "--max-batch-size", "1") as url:
        yield url


def load(url: str, stop: threading.Event) -> None:
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                        "data": np.zeros(4).tolist()}]}  # fmt: skip
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            for name in ("slow", "fast"):
                client.post(f"/v2/models/{name}/infer", json=body)


def test_a_latency_breach_reaches_the_teams_and_a_healthy_model_stays_quiet(
    env: dict[str, str], tmp_path: Path, served: str, webhook: Webhook
) -> None:
    need("prometheus")
    need("alertmanager")
    receivers = tmp_path / "receivers.yaml"
    hook = {"type": "webhook", "url": webhook.url}
    receivers.write_text(yaml.safe_dump({"teams": {
        "serving": {"critical": hook, "warning": hook}, "research": {"critical": hook},
    }}))  # fmt: skip
    up = baton(env, "monitor", "up", "--receivers", str(receivers), "--time-scale", "60",
               "--scrape-interval", "1s", "--prometheus-port", str(free_port()),
               "--alertmanager-port", str(free_port()))  # fmt: skip
    stop = threading.Event()
    traffic = threading.Thread(target=load, args=(served, stop), daemon=True)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        traffic.start()
        deadline = time.monotonic() + 240  # a loaded machine: the slow burn came first
        while time.monotonic() < deadline:
            fired = {
                (a["labels"]["alertname"], a["labels"]["model"], n["receiver"])
                for n in list(webhook.received)
                for a in n["alerts"]
                if a["status"] == "firing"
            }
            wanted = {
                ("BatonLatencyBudgetFastBurn", "slow", "serving-critical"),
                ("BatonLatencyBudgetFastBurn", "slow", "research-critical"),
            }
            if wanted <= fired:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the alert never arrived; received: {webhook.received}")
    finally:
        stop.set()
        traffic.join(30)
        baton(env, "monitor", "down")
    about_fast = [
        a for n in webhook.received for a in n["alerts"] if a["labels"]["model"] == "fast"
    ]
    assert about_fast == []
    alert = next(a for n in webhook.received for a in n["alerts"]
                 if a["labels"]["alertname"] == "BatonLatencyBudgetFastBurn")  # fmt: skip
    assert alert["labels"]["team"] == "serving"
    assert alert["labels"]["version"] == "1"
    assert alert["annotations"]["runbook_url"].endswith("#batonlatencybudgetfastburn")

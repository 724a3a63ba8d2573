"""The audit of a live fleet: real ``baton serve`` processes under load, a real Prometheus.

Two servers on this machine, each recorded in the store when it started: a light model
served well within its SLO, and a heavy one whose p99 cannot meet its 1 ms SLO. Prometheus
scrapes both every second (found through the files ``baton serve`` writes); the audit
reads the inventory from the store and the usage from Prometheus, and must find the light
one over-provisioned (one replica given half the machine for a trickle) and the heavy one
at risk, and ``--fail-on risk`` must fail.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.baton_cli import baton, clean_env, free_port, serving
from tests.handover_factory import write_handover
from tests.monitor.conftest import need
from tests.waiting import wait_until

LOAD_S = 30.0
PAIR = ("pair-a", "pair-b")  # two models in one server


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", BATON_USER="ops")


def register(env: dict[str, str], tmp_path: Path) -> None:
    heavy = write_handover(tmp_path / "heavy", name="heavy", owner="research", seed=5,
                           hidden=(1024, 1024), slo={"p99_latency_ms": 1})  # fmt: skip
    light = write_handover(tmp_path / "light", name="light", owner="research",
                           slo={"p99_latency_ms": 500})  # fmt: skip
    pair = [write_handover(tmp_path / name, name=name, owner="research") for name in PAIR]
    for folder in (heavy, light, *pair):
        assert baton(env, "register", str(folder)).returncode == 0
        assert baton(env, "alias", "set", f"{folder.name}@production", "1").returncode == 0


def load(name: str, url: str, stop: threading.Event) -> None:
    """Requests to one model back to back: each model gets its own, so a slow one (heavy)
    never starves the others of the thousand requests a served cost needs."""
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                        "data": np.zeros(4).tolist()}]}  # fmt: skip
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            client.post(f"/v2/models/{name}/infer", json=body)


@pytest.fixture
def prometheus_url(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    need("prometheus")
    register(env, tmp_path)  # the bundle watches the models in production
    port = free_port()
    up = baton(env, "monitor", "up", "--scrape-interval", "1s", "--prometheus-port", str(port),
               "--alertmanager-port", str(free_port()))  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        baton(env, "monitor", "down")


def wait_for_targets(url: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        targets = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        if sum(t["health"] == "up" and "baton" in t["scrapePool"] for t in targets) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus did not find {count} baton servers: {targets}")


def wait_for_scrapes_after(url: str, when: float) -> None:
    """Until Prometheus has scraped every baton server at ``when`` or later."""

    def oldest_scrape() -> float:
        query = 'min(timestamp(up{job=~".*baton.*"}))'
        result = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()
        found = result["data"]["result"]
        return float(found[0]["value"][1]) if found else 0.0

    wait_until(lambda: oldest_scrape() >= when, "the last scrapes of the baton servers", 60)


def test_a_live_fleet_gets_the_verdicts_its_load_implies(
    env: dict[str, str], tmp_path: Path, prometheus_url: str
) -> None:
    with (
        serving(env, "heavy", "--max-batch-size", "1") as heavy,
        serving(env, "light") as light,
        serving(env, *PAIR) as pair,
    ):
        wait_for_targets(prometheus_url, 3)
        stop = threading.Event()
        urls = {"heavy": heavy, "light": light, PAIR[0]: pair, PAIR[1]: pair}
        traffic = [threading.Thread(target=load, args=(n, u, stop)) for n, u in urls.items()]
        for thread in traffic:
            thread.start()
        time.sleep(LOAD_S)
        stop.set()
        for thread in traffic:
            thread.join(30)
        wait_for_scrapes_after(prometheus_url, time.time() + 2)  # the last scrapes
        args = ["audit", "--prometheus", prometheus_url, "--window", f"{int(LOAD_S)}s",
                "--rate-window", "5s", "--min-replicas", "1"]  # fmt: skip
        done = baton(env, *args, "--json")
        assert done.returncode == 0, done.stderr
        failing = baton(env, *args, "--fail-on", "risk")
    report = json.loads(done.stdout)
    rows = {r["model"]: r for r in report["rows"]}
    assert set(rows) == {"heavy", "light", *PAIR}
    assert all(r["deployment"]["source"] == "baton" for r in rows.values())
    assert rows["heavy"]["verdict"] == "at risk", rows["heavy"]["recommendation"]["reasons"]
    assert rows["light"]["verdict"] == "over-provisioned", rows["light"]["recommendation"]
    light_seen = rows["light"]["observed"]
    assert light_seen["rps_peak"] > 1
    assert light_seen["cpu_cores_p95"] is not None and light_seen["memory_peak_bytes"] > 0
    assert rows["light"]["recommendation"]["memory_bytes"] < rows["light"]["deployment"][
        "resources"]["memory_bytes"]  # fmt: skip
    for name in PAIR:  # one server's CPU and memory are both models': split, and said so
        assert rows[name]["observed"]["shared_models"] == 2
        assert any("serves 2 models" in r for r in rows[name]["recommendation"]["reasons"])
    assert rows["light"]["observed"]["shared_models"] == 1
    assert failing.returncode == 1
    assert "1 deployment(s) at risk: heavy" in failing.stderr

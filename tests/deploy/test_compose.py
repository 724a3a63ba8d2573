"""The Compose target's router: ``--with-router`` puts a ``baton router`` service in front of
the version, published in its place, its admin token a secret; checked against the shared
Compose schema by ``baton deploy check``."""

from __future__ import annotations

from pathlib import Path

import yaml

from baton.deploy.check import check_dir
from baton.store.store import Store
from tests.deploy.conftest import render_toy


def test_with_router_the_router_fronts_the_version(
    evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    out = render_toy(evaluated, tmp_path / "c", wheel, "compose", with_router=True,
                     with_monitoring=True).out  # fmt: skip
    assert check_dir(out) == []
    doc = yaml.safe_load((out / "compose/compose.yaml").read_text())
    services = doc["services"]
    assert set(services) == {"baton", "router", "prometheus", "alertmanager"}
    router, baton = services["router"], services["baton"]
    assert router["command"][:4] == ["router", "toy", "--stable", "http://baton:8080"]
    assert router["ports"] == ["127.0.0.1:8080:8080"] and "ports" not in baton
    assert baton["expose"] == ["8080"]
    assert router["secrets"] == ["router_token"]
    assert doc["secrets"] == {"router_token": {"file": "./router.token"}}
    assert "/run/secrets/router_token" in router["command"]
    assert router["depends_on"] == {"baton": {"condition": "service_healthy"}}
    # the weights it applied outlive the container: a named volume the image's user owns
    at = router["command"].index("--state-file") + 1
    assert router["command"][at] == "/var/lib/baton/router/state.json"
    assert router["volumes"] == ["router-state:/var/lib/baton/router"]
    assert doc["volumes"]["router-state"] == {}
    prometheus = yaml.safe_load((out / "compose/prometheus.yml").read_text())
    targets = prometheus["scrape_configs"][0]["static_configs"]
    assert targets[0]["labels"]["variant"] == "stable"
    assert targets[1]["targets"] == ["router:8080"]


def test_without_router_nothing_changes(evaluated: Store, wheel: Path, tmp_path: Path) -> None:
    out = render_toy(evaluated, tmp_path / "c", wheel, "compose").out
    doc = yaml.safe_load((out / "compose/compose.yaml").read_text())
    assert set(doc["services"]) == {"baton"} and "secrets" not in doc
    assert doc["services"]["baton"]["ports"] == ["127.0.0.1:8080:8080"]

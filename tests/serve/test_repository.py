"""Hot swap: alias moves are picked up under load, and no request fails on the way."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tests.handover_factory import write_handover
from tests.serve.conftest import ADMIN, ADMIN_TOKEN, LiveServer, Start, v2_input
from tests.waiting import wait_until

from baton.config import Settings
from baton.core.refs import parse_ref
from baton.handover.register import register_handover
from baton.serve.repository import alias_label
from baton.store.store import Store, open_store
from baton.store.tables import aliases

BODY = {"inputs": [v2_input([0.5, -1.0, 2.0, 0.25], rows=1)]}


@pytest.fixture
def two_versions(settings: Settings, tmp_path: Path) -> Iterator[Store]:
    """``toy`` 1 and 2 on SQLite and on PostgreSQL; @production -> 1."""
    store = open_store(settings)
    for seed in (1, 2):
        register_handover(store, write_handover(tmp_path / f"h{seed}", seed=seed), actor="t")
    store.registry.set_alias("toy", "production", 1, actor="t")
    yield store
    store.close()


class Load:
    """Client threads sending requests until stopped; every status and version counted."""

    def __init__(self, live: LiveServer, threads: int = 4) -> None:
        self.url = live.url
        self.stop = threading.Event()
        self.codes: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop) for _ in range(threads)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    r = client.post("/v2/models/toy/infer", json=BODY)
                    version = r.json().get("model_version", "?")
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.errors.append(repr(exc))
                    continue
                with self.lock:
                    self.codes[r.status_code] += 1
                    if r.status_code == 200:
                        self.versions[version] += 1

    def wait_for(self, version: str, timeout: float = 20) -> None:
        def answered() -> bool:
            with self.lock:
                return self.versions[version] >= 20

        wait_until(answered, f"version {version} to answer 20 requests", timeout, every=0.02)


def served_info(live: LiveServer) -> list[str]:
    """The ``baton_model_info`` series the server exposes now."""
    text = live.client.get("/metrics").text
    return [line for line in text.splitlines() if line.startswith("baton_model_info{")]


def polls(live: LiveServer) -> int:
    assert live.app.runtime is not None
    return live.app.runtime.repository.polls


def wait_for_polls(live: LiveServer, rounds: int) -> None:
    """Until the alias watch has run ``rounds`` whole rounds that began after this call (the
    round in progress may have read the registry before the change under test)."""
    start = polls(live)
    wait_until(lambda: polls(live) >= start + rounds + 1, f"{rounds} polls of the registry")


def test_alias_move_is_served_without_restart_and_without_a_failed_request(
    two_versions: Store, settings: Settings, live_server: Start
) -> None:
    live = live_server("toy", settings=settings, poll_interval_s=0.1)
    with Load(live) as load:
        load.wait_for("1")
        two_versions.registry.set_alias("toy", "production", 2, actor="t", reason="test")
        load.wait_for("2")
        # requests keep coming while version 1 drains and retires
        wait_until(
            lambda: not any('version="1"' in s for s in served_info(live)),
            "version 1 to be retired",
        )
    assert load.errors == []
    assert set(load.codes) == {200}, load.codes
    assert load.versions["1"] > 0
    assert load.versions["2"] > 0
    assert live.client.get("/v2/models/toy").json()["versions"] == ["2"]
    metrics = live.client.get("/metrics").text
    assert 'baton_model_info{alias="production",model="toy",owner="research",version="2"} 1.0' in (
        metrics
    )
    assert 'version="1"} 1.0' not in metrics.split("baton_model_info")[-1]  # old one retired
    assert live.app.runtime is not None
    assert live.app.runtime.repository.swaps == 1


def test_load_endpoint_swaps_at_once_and_can_add_and_unload_models(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy", poll_interval_s=0, admin_token=ADMIN_TOKEN)  # only the endpoint swaps
    c = live.client
    toy_store.registry.set_alias("toy", "production", 2, actor="t")
    with Load(live, threads=2) as load:
        load.wait_for("1")
        r = c.post("/v2/repository/models/toy/load", headers=ADMIN)
        assert r.json() == {"name": "toy", "versions": ["2"]}
        load.wait_for("2")
    assert set(load.codes) == {200}, load.codes
    assert load.errors == []
    assert c.post("/v2/repository/models/ghost/load", headers=ADMIN).status_code == 404
    assert c.post("/v2/repository/models/toy/unload", headers=ADMIN).json() == {
        "name": "toy",
        "unloaded": True,
    }
    assert c.post("/v2/models/toy/infer", json=BODY).status_code == 404
    assert c.post("/v2/repository/models/toy/load", headers=ADMIN).json() == {
        "name": "toy",
        "versions": ["2"],
    }
    assert c.post("/v2/models/toy/infer", json=BODY).status_code == 200


def test_pinned_versions_do_not_follow_aliases(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy:1", poll_interval_s=0.05)
    toy_store.registry.set_alias("toy", "production", 2, actor="t")
    wait_for_polls(live, 2)
    assert live.client.post("/v2/models/toy/infer", json=BODY).json()["model_version"] == "1"


def test_alias_labels(toy_store: Store) -> None:
    v1 = toy_store.registry.resolve(parse_ref("toy:1"))
    v2 = toy_store.registry.resolve(parse_ref("toy:2"))
    assert alias_label(parse_ref("toy"), v1) == "production"
    assert alias_label(parse_ref("toy"), v2) == "latest"
    assert alias_label(parse_ref("toy@candidate"), v2) == "candidate"
    assert alias_label(parse_ref("toy:2"), v2) == ""


def test_a_model_unloaded_while_watched_stays_unloaded(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy", poll_interval_s=0.05, admin_token=ADMIN_TOKEN)
    assert live.client.post("/v2/repository/models/toy/unload", headers=ADMIN).status_code == 200
    toy_store.registry.set_alias("toy", "production", 2, actor="t")
    wait_for_polls(live, 3)
    r = live.client.post("/v2/models/toy/infer", json=BODY)
    assert r.status_code == 404
    assert "(served: none)" in r.json()["error"]
    assert live.client.post("/v2/repository/index").json() == []


def test_a_vanished_alias_keeps_the_version_and_is_reported_once(
    toy_store: Store, live_server: Start, caplog: pytest.LogCaptureFixture
) -> None:
    toy_store.registry.set_alias("toy", "staging", 2, actor="t")
    live = live_server("toy@staging", poll_interval_s=0.02)
    with toy_store.engine.begin() as conn:
        conn.execute(sa.delete(aliases).where(aliases.c.name == "staging"))
    with caplog.at_level(logging.WARNING, logger="baton.serve"):
        wait_until(lambda: "keeping toy:2" in caplog.text, "the vanished alias to be reported")
        wait_for_polls(live, 5)  # many more polls, each failing the same way
        r = live.client.post("/v2/models/toy/infer", json=BODY)
        assert r.json()["model_version"] == "2"  # still served
        toy_store.registry.set_alias("toy", "staging", 2, actor="t")
        wait_until(lambda: "answers again" in caplog.text, "the recovery to be reported")
    kept = [r for r in caplog.records if "keeping toy:2" in r.getMessage()]
    assert len(kept) == 1
    assert "toy has no alias @staging" in kept[0].getMessage()

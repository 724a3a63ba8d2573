"""One decider per server: workers follow it, and the store records what they answer with."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tests.baton_cli import clean_env, serving
from tests.handover_factory import write_handover
from tests.serve.conftest import ADMIN, ADMIN_TOKEN, Start, v2_input

from baton.config import Settings
from baton.handover.register import register_handover
from baton.serve.board import Board
from baton.serve.options import ServeOptions
from baton.serve.recorded import RecordedServer
from baton.store.servers import ServedModel
from baton.store.store import Store, open_store

BODY = {"inputs": [v2_input([0.5, -1.0, 2.0, 0.25], rows=1)]}
SWAP_BOUND_S = 20.0  # generous: the suite shares two cores with other work


def wait_until(check: object, timeout: float = SWAP_BOUND_S, what: str = "") -> float:
    """Poll ``check()`` until true; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Path, Store]]:
    """``toy`` 1 and 2; @production -> 1."""
    store = open_store(Settings(home=tmp_path / "home", user="tester"))
    for seed in (1, 2):
        register_handover(store, write_handover(tmp_path / f"t{seed}", seed=seed), actor="t")
    store.registry.set_alias("toy", "production", 1, actor="t")
    yield tmp_path / "home", store
    store.close()


@dataclass
class Fresh:
    """Client threads, each request on a new connection (so both workers take some);
    every answer kept with the time its request was sent."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[tuple[float, int, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, timeout=30, limits=limits) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    r = client.post("/v2/models/toy/infer", json=BODY)
                    version = r.json().get("model_version", "?") if r.status_code == 200 else ""
                    self.answers.append((sent, r.status_code, version))
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))


def test_workers_follow_one_decider_and_the_record_matches_what_answers(
    home: tuple[Path, Store],
) -> None:
    folder, store = home
    env = clean_env(folder, BATON_USER="tester")
    args = ("toy", "--workers", "2", "--poll-interval", "0.2")
    with serving(env, *args) as url:
        load = Fresh(url)
        threads = [threading.Thread(target=load.run) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(load.answers) >= 50, what="answers from version 1")
            moved = time.monotonic()
            store.registry.set_alias("toy", "production", 2, actor="t")
            recorded = wait_until(
                lambda: [m.version for m in store.servers.live()[0].models] == [2],
                what="the record to show version 2",
            )
            time.sleep(0.5)  # more requests, all sent after the record moved
            (server,) = store.servers.live()
        finally:
            load.stop.set()
            for t in threads:
                t.join(30)
        served = {httpx.get(f"{url}/v2/models/toy", timeout=5).json()["versions"][0]
                  for _ in range(20)}  # fmt: skip
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
    assert load.errors == []
    assert {code for _, code, _ in load.answers} == {200}
    assert recorded - moved < SWAP_BOUND_S
    late = [version for sent, _, version in load.answers if sent > recorded]
    assert len(late) > 10 and set(late) == {"2"}  # once recorded, no worker answers 1
    assert {version for _, _, version in load.answers} == {"1", "2"}
    assert served == {"2"}  # what the record says is what every answer says
    assert [(m.model, m.version, m.alias) for m in server.models] == [("toy", 2, "production")]
    # the workers never looked an alias up: the parent did, for both
    assert re.search(r"^baton_alias_lookups_total 0\.0$", metrics, re.M), metrics


def test_a_server_run_alone_counts_its_own_alias_lookups(
    toy_store: Store, live_server: Start
) -> None:
    """The counter the test above reads at 0 does count: a ServeApp with no decider beside
    it looks its aliases up itself, on every poll."""
    live = live_server("toy", poll_interval_s=0.05)

    def lookups() -> float:
        text = live.client.get("/metrics").text
        found = re.search(r"^baton_alias_lookups_total (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    wait_until(lambda: lookups() >= 2, what="two alias lookups of a server run alone")


def after_round(record: RecordedServer) -> None:
    """Wait until the decider has read the board at least once since now (so a record that
    did not move was looked at, not missed)."""
    seen = record.rounds
    wait_until(lambda: record.rounds >= seen + 2, what="a full round of the decider")


def options(folder: Path, workers: int = 2) -> ServeOptions:
    return ServeOptions(
        refs=("toy",), workers=workers, poll_interval_s=0.05, decisions_dir=str(folder)
    )


def test_the_record_moves_only_once_every_worker_reports_the_new_version(
    toy_store: Store, sqlite_settings: Settings, tmp_path: Path
) -> None:
    board = Board(tmp_path)
    record = RecordedServer(sqlite_settings, options(tmp_path), port=8123)
    others = [os.getpid(), os.getppid()]  # two live processes stand for the two workers
    try:
        assert [m.version for m in toy_store.servers.get(record.id).models] == [1]
        toy_store.registry.set_alias("toy", "production", 2, actor="t")
        wait_until(lambda: (board.read() or record.decider.decision).generation == 2)
        decision = board.read()
        assert decision is not None and [t.version for t in decision.targets] == [2]
        v1 = ServedModel("toy", 1, "production")
        v2 = ServedModel("toy", 2, "production")
        board.report(2, [v2], pid=others[0])
        board.report(1, [v1], pid=others[1])  # one worker still on the old decision
        after_round(record)
        assert toy_store.servers.get(record.id).models[0].version == 1
        board.report(2, [v1], pid=others[1])  # applied, but failed to load version 2
        after_round(record)
        assert toy_store.servers.get(record.id).models[0].version == 1
        board.report(2, [v2], pid=others[1])
        wait_until(lambda: toy_store.servers.get(record.id).models == (v2,), what="record")
        board.report(2, [v2], pid=999_999_999)  # a worker gone: its report is dropped
        assert {r.pid for r in board.reports()} == set(others)
    finally:
        record.stop()
    assert toy_store.servers.get(record.id).stopped_at is not None


def test_load_and_unload_are_decided_for_every_worker(
    toy_store: Store, sqlite_settings: Settings, tmp_path: Path
) -> None:
    """A worker asks; the decider answers in the decision every worker follows."""
    import asyncio

    from baton.serve.follow import BoardSource

    record = RecordedServer(sqlite_settings, options(tmp_path, workers=1), port=8124)
    source = BoardSource(Board(tmp_path))
    try:
        toy_store.registry.set_alias("toy", "production", 2, actor="t")
        decision = asyncio.run(source.ask("load", "toy"))  # picks the move up now
        assert [t.version for t in decision.targets] == [2]
        decision = asyncio.run(source.ask("unload", "toy"))
        assert decision.targets == ()
        with pytest.raises(Exception, match="'toy' is not served here"):
            asyncio.run(source.ask("unload", "toy"))
        with pytest.raises(Exception, match="ghost"):
            asyncio.run(source.ask("load", "ghost"))
        decision = asyncio.run(source.ask("load", "toy"))
        assert [(str(t.ref), t.version) for t in decision.targets] == [("toy", 2)]
    finally:
        record.stop()


def test_a_server_in_a_thread_follows_its_decider(
    toy_store: Store, sqlite_settings: Settings
) -> None:
    from baton.serve.background import serve_in_thread

    opts = ServeOptions(refs=("toy",), port=0, poll_interval_s=0.05, admin_token=ADMIN_TOKEN)
    with serve_in_thread(sqlite_settings, opts) as served:
        (server,) = toy_store.servers.live()
        toy_store.registry.set_alias("toy", "production", 2, actor="t")
        wait_until(lambda: toy_store.servers.get(server.id).models[0].version == 2)
        r = httpx.post(f"{served.url}/v2/models/toy/infer", json=BODY, timeout=10)
        assert r.json()["model_version"] == "2"
        r = httpx.post(f"{served.url}/v2/repository/models/toy/unload", headers=ADMIN)
        assert r.status_code == 200
        wait_until(lambda: toy_store.servers.get(server.id).models == ())
        text = httpx.get(f"{served.url}/metrics", timeout=5).text
        assert re.search(r"^baton_alias_lookups_total 0\.0$", text, re.M)

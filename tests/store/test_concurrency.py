"""Two or more processes registering at the same moment: all succeed, none is lost."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from baton.config import Settings
from baton.handover.register import register_handover
from baton.store.store import open_store
from tests.handover_factory import write_handover

WORKERS = 6


def _register(settings: Settings, folder: Path, barrier: object, out: object) -> None:
    store = open_store(settings)
    barrier.wait()  # type: ignore[attr-defined]
    result = register_handover(store, folder, actor=f"proc-{folder.name}")
    out.put((folder.name, result.version.number, result.created))  # type: ignore[attr-defined]
    store.close()


def test_concurrent_registrations_get_distinct_numbers(settings: Settings, tmp_path: Path) -> None:
    open_store(settings).close()  # schema first, as `baton init` would
    folders = [write_handover(tmp_path / f"h{i}", seed=i) for i in range(WORKERS)]
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_register, args=(settings, f, barrier, out)) for f in folders]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    results = [out.get(timeout=5) for _ in range(WORKERS)]
    assert sorted(number for _, number, _ in results) == list(range(1, WORKERS + 1))
    assert all(created for _, _, created in results)

    store = open_store(settings)
    _, versions = store.registry.model("toy")
    assert sorted(v.number for v in versions) == list(range(1, WORKERS + 1))
    registered = [
        e for e in store.registry.log_entries(limit=1000) if e.action == "version.register"
    ]
    assert len(registered) == WORKERS
    assert store.registry.verify_log().intact  # one linear chain, whoever wrote first
    for v in versions:
        store.artifacts.verified_path(v.sha256)
    store.close()


def test_concurrent_first_registrations_of_new_model_and_team(
    settings: Settings, tmp_path: Path
) -> None:
    """No schema, no team, no model yet: the racers create them exactly once."""
    folders = [write_handover(tmp_path / f"h{i}", seed=i, owner="new-team") for i in range(3)]
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_register, args=(settings, f, barrier, out)) for f in folders]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    store = open_store(settings)
    actions = [e.action for e in store.registry.log_entries(limit=1000)]
    assert actions.count("team.create") == 1
    assert actions.count("model.create") == 1
    assert actions.count("version.register") == 3
    assert store.registry.verify_log().intact
    store.close()


def _append(settings: Settings, n: int, barrier: object) -> None:
    store = open_store(settings)
    barrier.wait()  # type: ignore[attr-defined]
    for i in range(APPENDS):
        store.registry.append_entry(f"proc-{n}", "test.entry", detail={"i": i})
    store.close()


APPENDS = 15


def test_concurrent_audit_writers_keep_one_linear_chain(settings: Settings) -> None:
    open_store(settings).close()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_append, args=(settings, n, barrier)) for n in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    store = open_store(settings)
    verdict = store.registry.verify_log()
    assert verdict.intact and verdict.entries == verdict.head.seq == WORKERS * APPENDS
    store.close()

"""Throttled refusal entries: written in their own transaction, counted when cut, summarised."""

from __future__ import annotations

import sqlalchemy as sa

from baton.core.ratelimit import Limits
from baton.store.refusals import RefusalLog
from baton.store.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def entries(store: Store) -> list[tuple[str, str, dict[str, object]]]:
    return [(e.actor, e.action, e.detail) for e in reversed(store.registry.log_entries(None, 100))]


def test_a_flood_writes_a_burst_then_one_entry_with_the_count(store: Store) -> None:
    clock = Clock()
    log = RefusalLog(store.engine, Limits(burst=2, per_minute=1), clock)
    written = [log.sign_in_failed("10.0.0.9", "invalid") for _ in range(7)]
    assert written == [True, True, False, False, False, False, False]
    assert log.admin_refused("mia", "add team x")  # another key, its own bucket
    clock.now = 60.0
    assert log.sign_in_failed("10.0.0.9", "invalid")
    assert entries(store) == [
        ("anonymous", "auth.failed", {"source": "10.0.0.9", "why": "invalid"}),
        ("anonymous", "auth.failed", {"source": "10.0.0.9", "why": "invalid"}),
        ("mia", "admin.refused", {"source": "mia", "why": "not an admin", "wanted": "add team x"}),
        ("anonymous", "auth.failed", {"source": "10.0.0.9", "why": "invalid", "suppressed": 5}),
    ]


def test_flush_summarises_what_no_later_entry_reported(store: Store) -> None:
    log = RefusalLog(store.engine, Limits(burst=1), Clock())
    for _ in range(3):
        log.sign_in_failed("10.0.0.9", "revoked", "abc123")
        log.admin_refused("bob", "add user eve")
    assert log.flush() == 2
    assert log.flush() == 0
    summaries = [e for e in entries(store) if e[0] == "baton"]
    assert summaries == [
        (
            "baton",
            "auth.failed",
            {"source": "10.0.0.9", "why": "revoked", "suppressed": 2, "summary": True},
        ),
        (
            "baton",
            "admin.refused",
            {"source": "bob", "why": "not an admin", "suppressed": 2, "summary": True},
        ),
    ]


def test_an_unreachable_database_does_not_hide_the_refusal() -> None:
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    log = RefusalLog(engine)
    assert log.sign_in_failed("10.0.0.9", "invalid")  # admitted; the write failed quietly
    assert log.flush() == 0

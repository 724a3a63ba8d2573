"""Stored audits on SQLite and PostgreSQL: saved with their log entry, read back whole,
a page of lines at a time by verdict and savings, and nothing half written."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from baton.core.audit_records import by_savings
from baton.errors import BadInput, NotFound
from baton.store.audit_tables import audit_lines, audit_runs
from baton.store.audits import Audits
from baton.store.store import Store
from testkit.audit_runs import audit_line, audit_run


def test_a_saved_run_reads_back_with_its_totals_lines_and_log_entry(store: Store) -> None:
    audits = Audits(store.engine)
    new = audit_run(12)
    run_id = audits.save(new, actor="ops")
    stored = audits.stored(run_id)
    run = stored.run
    assert (run.id, run.actor, run.prometheus_url) == (run_id, "ops", new.prometheus_url)
    assert (run.window_start, run.window_end) == (new.window_start, new.window_end)
    assert run.deployments == 12 and run.at_risk == 2
    assert run.cost_now == pytest.approx(sum(d.cost_now for d in new.deployments))
    assert run.cost_after == pytest.approx(sum(d.cost_after for d in new.deployments))
    assert run.savings == pytest.approx(run.cost_now - run.cost_after)
    assert list(run.by_verdict) == [
        "at risk", "under-provisioned", "over-provisioned", "idle", "insufficient data",
        "right-sized",
    ]  # fmt: skip
    assert sum(run.by_verdict.values()) == 12
    assert run.notes == new.notes and run.example_prices and run.currency == "USD"
    assert stored.deployments == by_savings(new.deployments)
    (entry,) = store.registry.log_entries(None, 1)
    assert (entry.action, entry.actor) == ("audit.run", "ops")
    assert entry.detail["audit"] == run_id and entry.detail["deployments"] == 12


def test_lines_come_most_savings_first_filtered_and_paged(store: Store) -> None:
    audits = Audits(store.engine)
    run_id = audits.save(audit_run(60), actor="ops")
    every = audits.deployments(run_id)
    assert [d.savings for d in every] == sorted((d.savings for d in every), reverse=True)
    assert every[0].verdict == "idle"  # idle saves its whole cost
    page = audits.deployments(run_id, limit=10, offset=10)
    assert page == every[10:20]
    idle = audits.deployments(run_id, verdict="idle")
    assert len(idle) == 10 and {d.verdict for d in idle} == {"idle"}
    assert idle == [d for d in every if d.verdict == "idle"]
    with pytest.raises(BadInput, match="choose one of at risk"):
        audits.deployments(run_id, verdict="bogus")


def test_latest_runs_and_unknown_ids(store: Store) -> None:
    audits = Audits(store.engine)
    assert audits.latest() is None and audits.runs() == []
    with pytest.raises(NotFound, match="no audit is stored yet: run `baton audit`"):
        audits.stored()
    first = audits.save(audit_run(3), actor="ops")
    second = audits.save(audit_run(5), actor="ci")
    latest = audits.latest()
    assert latest is not None and latest.id == second and latest.deployments == 5
    assert [r.id for r in audits.runs()] == [second, first]
    assert [r.id for r in audits.runs(limit=1)] == [second]
    assert audits.stored().run.id == second
    with pytest.raises(NotFound, match=f"no audit run {second + 1}: `baton audit show --list`"):
        audits.get(second + 1)


def test_an_empty_fleet_is_a_run_with_no_lines(store: Store) -> None:
    audits = Audits(store.engine)
    run_id = audits.save(audit_run(0), actor="ops")
    stored = audits.stored(run_id)
    assert stored.deployments == [] and stored.run.savings == 0 and stored.run.by_verdict == {}


def _counts(store: Store) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(audit_runs)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(audit_lines)).scalar_one(),
            len(store.registry.log_entries(None, 10_000)),
        )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (replace(audit_line(1), cost_now=float("nan")), "must be finite numbers"),
        (replace(audit_line(1), savings=5.0), "is not cost now"),
        (replace(audit_line(1), verdict="fine"), "verdict 'fine' is not one of"),
    ],
)
def test_a_bad_line_stores_nothing(store: Store, bad: object, message: str) -> None:
    before = _counts(store)
    run = audit_run(3)
    with pytest.raises(BadInput, match=message):
        Audits(store.engine).save(replace(run, deployments=(*run.deployments, bad)), "ops")  # type: ignore[arg-type]
    assert _counts(store) == before


def test_a_window_ending_before_it_starts_is_refused(store: Store) -> None:
    run = audit_run(2)
    backwards = replace(run, window_start=run.window_end, window_end=run.window_start)
    with pytest.raises(BadInput, match="window ends before it starts"):
        Audits(store.engine).save(backwards, "ops")


def test_a_failure_inside_the_transaction_leaves_neither_run_nor_entry(store: Store) -> None:
    """A line the database refuses (no name: NOT NULL) rolls back the run written before it."""
    before = _counts(store)
    run = audit_run(3)
    nameless = replace(audit_line(2), name=None)
    with pytest.raises(sa.exc.IntegrityError):
        Audits(store.engine).save(replace(run, deployments=(*run.deployments, nameless)), "ops")
    assert _counts(store) == before


def test_migration_0010_downgrades_and_upgrades_again(store: Store) -> None:
    from alembic import command

    from baton.store.db import _alembic_config, current_revisions, migrate

    Audits(store.engine).save(audit_run(2), actor="ops")
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0009")
    assert current_revisions(store.engine) == {"0009"}
    tables = set(sa.inspect(store.engine).get_table_names())
    assert not {"audit_runs", "audit_lines"} & tables
    assert migrate(store.engine) is True
    audits = Audits(store.engine)
    assert audits.latest() is None
    assert audits.stored(audits.save(audit_run(3), actor="ops")).run.deployments == 3

"""``baton log --verify`` and ``--head`` as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from baton.config import Settings
from baton.store.store import Store, open_store
from baton.store.tables import audit_log
from tests.baton_cli import baton, clean_env
from tests.log_tamper import attacker, fill


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return clean_env(settings.home, BATON_DB_URL=settings.database_url, BATON_USER="ops")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings)
    fill(s, 4)
    yield s
    s.close()


def test_verify_and_head_on_an_intact_log(env: dict[str, str], store: Store) -> None:
    head = baton(env, "log", "--head")
    assert head.returncode == 0, head.stderr
    assert head.stdout.strip() == str(store.registry.log_head())
    assert head.stdout.startswith("4:")
    ok = baton(env, "log", "--verify")
    assert ok.returncode == 0, ok.stderr
    assert f"intact: 4 entries sealed in order; head {head.stdout.strip()}" in ok.stdout
    kept = baton(env, "log", "--verify", "--head", head.stdout.strip(), "--json")
    assert json.loads(kept.stdout) == {
        "intact": True, "entries": 4, "head": head.stdout.strip(), "finding": None,
    }  # fmt: skip


def test_verify_names_a_deleted_entry_and_exits_1(env: dict[str, str], store: Store) -> None:
    with store.engine.connect() as conn:
        ids = list(conn.execute(sa.select(audit_log.c.id).order_by(audit_log.c.seq)).scalars())
    attacker(store, f"DELETE FROM audit_log WHERE id = {ids[1]}")
    result = baton(env, "log", "--verify")
    assert result.returncode == 1
    assert f"1 entry deleted before entry #{ids[2]}" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "intact up to position 1 (1 entries); then: deleted" in result.stdout
    body = json.loads(baton(env, "log", "--verify", "--json").stdout)
    assert body["finding"]["kind"] == "deleted" and body["finding"]["entry"] == ids[2]


def test_only_a_kept_head_catches_a_careful_truncation(env: dict[str, str], store: Store) -> None:
    kept = baton(env, "log", "--head").stdout.strip()
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).all()
    last, keep = rows[-1], rows[-2]
    attacker(
        store,
        f"DELETE FROM audit_log WHERE id = {last.id}",
        f"UPDATE audit_head SET seq = {keep.seq}, hash = '{keep.hash}'",
    )
    assert baton(env, "log", "--verify").returncode == 0
    result = baton(env, "log", "--verify", "--head", kept)
    assert result.returncode == 1
    assert "the log was truncated: it ends at position 3 but the head you kept is at" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("log", "--verify", "--head", "nonsense"), "is not SEQ:HASH"),
        (("log", "4:" + "0" * 64), "a kept head goes after --verify --head"),
    ],
)
def test_bad_heads_are_one_clear_line(
    env: dict[str, str], store: Store, args: tuple[str, ...], message: str
) -> None:
    result = baton(env, *args)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_verify_with_another_key_says_which_keys(env: dict[str, str], store: Store) -> None:
    result = baton({**env, "BATON_AUDIT_KEY": "z" * 40}, "log", "--verify")
    assert result.returncode == 2
    assert "the audit log is sealed with key" in result.stderr
    assert "z" * 40 not in result.stderr  # never the key itself

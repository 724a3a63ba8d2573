"""Shared fixtures: real SQLite and PostgreSQL stores, and hand-overs built for real."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from baton.config import Settings
from baton.store.store import Store, open_store
from tests.strays import kill_strays

PG_BASE = os.environ.get("BATON_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        engine = sa.create_engine(PG_BASE, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_BASE}: {exc}"


@pytest.fixture(autouse=True)
def _no_strays(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test with a folder of its own, kill what it left running there (a failed
    deployment test leaves a keeper that restarts the rest for good)."""
    folder = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if folder is not None:
        kill_strays(folder)


@pytest.fixture(scope="session")
def pg_base() -> str:
    problem = _pg_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)  # CI installs and starts every part: nothing may skip there
        pytest.skip(problem)
    return PG_BASE


@pytest.fixture
def pg_url(pg_base: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(pg_base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{pg_base}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'baton.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(home=tmp_path / "home", db_url=db_url, user="tester")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings)
    yield s
    s.close()


@pytest.fixture(scope="session")
def digits_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example hand-over, trained once per test session."""
    from baton.examples.digits import build

    folder = tmp_path_factory.mktemp("digits") / "handover"
    build(folder)
    return folder


@pytest.fixture
def digits_handover(digits_source: Path, tmp_path: Path) -> Path:
    """A private copy of the example hand-over that a test may change."""
    folder = tmp_path / "handover"
    shutil.copytree(digits_source, folder)
    return folder

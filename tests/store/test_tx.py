from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from baton.errors import NotFound
from baton.handover.register import register_handover
from baton.store.store import Store
from baton.store.tables import versions
from baton.store.tx import find_version_id, read
from tests.handover_factory import write_handover


def test_find_version_id_by_name_or_model_id(store: Store, tmp_path: Path) -> None:
    registered = register_handover(store, write_handover(tmp_path / "h"), actor="research")
    name = registered.version.model
    with read(store.engine) as conn:
        by_name = find_version_id(conn, name, 1)
        model_id = conn.execute(
            sa.select(versions.c.model_id).where(versions.c.id == by_name)
        ).scalar()
        assert find_version_id(conn, name, 1, model_id=model_id) == by_name
        with pytest.raises(NotFound, match=f"{name} has no version 7: `baton show {name}`"):
            find_version_id(conn, name, 7)

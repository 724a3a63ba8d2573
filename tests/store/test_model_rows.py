"""Rows read with their model's name, by id (locked or not) and by the model's slot, on
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from baton.core.deployment_records import Processes, RouterProcess
from baton.errors import NotFound
from baton.handover.register import register_handover
from baton.store.deployment_tables import deployments
from baton.store.deployments import Deployments, NewDeployment
from baton.store.model_rows import in_slot, one_with_model_name, slot_of, with_model_name
from baton.store.store import Store
from baton.store.tables import models
from baton.store.tx import read, write
from tests.handover_factory import write_handover

ROUTER = RouterProcess(pid=10, started=5, url="http://127.0.0.1:8080", log="r.log",
                       token_file="/home/x/router.token")  # fmt: skip


def test_rows_come_with_their_models_name(store: Store, tmp_path: Path) -> None:
    for seed in (1, 2):
        register_handover(store, write_handover(tmp_path / f"toy{seed}", seed=seed), actor="t")
    repo = Deployments(store.engine)
    up = repo.up(NewDeployment("toy", "host-a", ROUTER, Processes(servers=())), "sam")
    with read(store.engine) as conn:
        model_id = conn.execute(sa.select(models.c.id).where(models.c.name == "toy")).scalar()
        assert model_id is not None
        rows = conn.execute(with_model_name(deployments)).all()
        assert [(r.id, r.model_name, r.slot) for r in rows] == [(up.id, "toy", slot_of(model_id))]
        held = in_slot(conn, deployments, model_id)
        assert held is not None and (held.id, held.model_name) == (up.id, "toy")
        assert in_slot(conn, deployments, model_id + 1000) is None
        with pytest.raises(NotFound, match="^no deployment #99: say which$"):
            one_with_model_name(conn, deployments, 99, missing="no deployment #99: say which")

    def locked(conn: sa.Connection) -> str:
        return str(one_with_model_name(conn, deployments, up.id, missing="-", lock=True).model_name)

    assert write(store.engine, locked) == "toy"
    repo.down(up.id, revision=1, actor="sam")
    with read(store.engine) as conn:
        assert in_slot(conn, deployments, model_id) is None  # stopped: the slot is free

"""Records of deploy renders: written with their log entry, listed by ``baton deploy list``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from baton.store.render_tables import deploy_renders
from baton.store.tx import append_entry, insert_id, read, utcnow


@dataclass(frozen=True)
class RenderRecord:
    id: int
    at: datetime
    actor: str
    model: str
    version: int
    targets: tuple[str, ...]
    out: str
    manifest_sha256: str
    forced: bool
    options: dict[str, object]  # the JSON document MANIFEST.json holds too


def record_render(
    conn: sa.Connection,
    *,
    actor: str,
    model: str,
    version: int,
    targets: list[str],
    out: str,
    manifest_sha256: str,
    forced: bool,
    options: Mapping[str, object],
    reason: str | None,
) -> int:
    """Insert the render and its log entry in the caller's transaction; its id back."""
    render_id = insert_id(
        conn,
        deploy_renders.insert().values(
            at=utcnow(), actor=actor, model=model, version=version, targets=targets, out=out,
            manifest_sha256=manifest_sha256, forced=forced, options=options,
        ),
    )  # fmt: skip
    detail = {"render": render_id, "targets": targets, "out": out, "forced": forced,
              "manifest_sha256": manifest_sha256}  # fmt: skip
    action = "deploy.render.forced" if forced else "deploy.render"
    append_entry(conn, actor, action, model, version, reason, detail)
    return render_id


def list_renders(engine: sa.Engine, model: str | None = None) -> list[RenderRecord]:
    """Renders, newest first (of one model when named)."""
    query = sa.select(deploy_renders).order_by(deploy_renders.c.id.desc())
    if model is not None:
        query = query.where(deploy_renders.c.model == model)
    with read(engine) as conn:
        rows = conn.execute(query).mappings().all()
    return [
        RenderRecord(
            id=r["id"],
            at=r["at"],
            actor=r["actor"],
            model=r["model"],
            version=r["version"],
            targets=tuple(r["targets"]),
            out=r["out"],
            manifest_sha256=r["manifest_sha256"],
            forced=bool(r["forced"]),
            options=dict(r["options"]),
        )
        for r in rows
    ]

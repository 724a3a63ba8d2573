"""Paged, filtered reads for the dashboard: a page of models or versions in a few queries.

``Registry.models()`` and ``Registry.model()`` read everything (the CLI prints it all);
a page of the dashboard must stay fast with 1,000 models and 10,000 versions, so the
filters (owner team, latest verdict, stage alias, a name search) and the paging run in
SQL here, and only the rows shown are read in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.promotion import STAGE_ALIASES
from baton.errors import BadInput, NotFound
from baton.store.ownership_tables import memberships, people
from baton.store.registry import LogEntry
from baton.store.tables import aliases, audit_log, evaluations, models, teams, versions
from baton.store.tx import read

VERDICTS = ("passed", "failed", "error", "none")  # "none": never evaluated
STAGES = (*sorted(STAGE_ALIASES, reverse=True), "none")  # production, staging; none
MAX_PAGE = 200
T = TypeVar("T")


@dataclass(frozen=True)
class ModelQuery:
    """What the models page asks for; every filter is optional."""

    search: str | None = None  # part of the name or of the owner team's name
    team: str | None = None  # owner team
    verdict: str | None = None  # latest evaluation of the latest version
    stage: str | None = None  # has this stage alias (or "none": no stage alias)
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise BadInput(f"unknown verdict {self.verdict!r}: use {', '.join(VERDICTS)}")
        if self.stage is not None and self.stage not in STAGES:
            raise BadInput(f"unknown stage {self.stage!r}: use {', '.join(STAGES)}")
        if self.page < 1 or not 1 <= self.per_page <= MAX_PAGE:
            raise BadInput(f"page must be 1 or more and per_page 1 to {MAX_PAGE}")


@dataclass(frozen=True)
class ModelRow:
    name: str
    owner: str
    task: str
    versions: int
    latest: int | None
    verdict: str | None  # of the latest version's newest evaluation; None: never evaluated
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionRow:
    number: int
    label: str | None
    created_at: datetime
    created_by: str
    verdict: str | None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class AuditQuery:
    model: str | None = None
    team: str | None = None  # entries by members of this team
    person: str | None = None  # entries by this person
    action: str | None = None  # an action, or its family: "promotion" matches promotion.*
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if self.page < 1 or not 1 <= self.per_page <= MAX_PAGE:
            raise BadInput(f"page must be 1 or more and per_page 1 to {MAX_PAGE}")


def _verdict_of(version_id: Any) -> sa.ScalarSelect[Any]:
    """The status of a version's newest evaluation (NULL when never evaluated)."""
    return (
        sa.select(evaluations.c.status)
        .where(evaluations.c.version_id == version_id)
        .order_by(evaluations.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


class Catalog:
    """Read-only, paged views of the registry for the dashboard."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def models(self, query: ModelQuery) -> Page[ModelRow]:
        """One page of models, filtered, by name; with the total that matched."""
        # per model, by index (model_id, number): no aggregate over every version, whose
        # join the planner misjudged into 170,000 row comparisons on a fresh PostgreSQL store
        mine = versions.alias("mine")
        count = sa.select(sa.func.count()).where(mine.c.model_id == models.c.id)
        newest = sa.select(sa.func.max(mine.c.number)).where(mine.c.model_id == models.c.id)
        latest = versions.alias("latest_version")
        verdict = _verdict_of(latest.c.id).label("verdict")
        inner = (
            sa.select(
                models.c.id,
                models.c.name,
                models.c.task,
                teams.c.name.label("owner"),
                count.scalar_subquery().label("n"),
                latest.c.number.label("latest"),
                verdict,
            )
            .join(teams, teams.c.id == models.c.owner_team_id)
            .outerjoin(
                latest,
                sa.and_(
                    latest.c.model_id == models.c.id, latest.c.number == newest.scalar_subquery()
                ),
            )
        )
        matched = self._filtered(inner, query).subquery("matched")
        verdict_col = matched.c.verdict
        if query.verdict == "none":
            where: Any = verdict_col.is_(None)
        elif query.verdict is not None:
            where = verdict_col == query.verdict
        else:
            where = sa.true()
        with read(self.engine) as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(matched).where(where))
            found = int(total.scalar() or 0)
            rows = conn.execute(
                sa.select(matched)
                .where(where)
                .order_by(matched.c.name)
                .offset((query.page - 1) * query.per_page)
                .limit(query.per_page)
            ).all()
            alias_map = self._aliases(conn, [r.id for r in rows])
        return Page(
            [
                ModelRow(r.name, r.owner, r.task, r.n, r.latest, r.verdict, alias_map.get(r.id, {}))
                for r in rows
            ],
            found,
            query.page,
            query.per_page,
        )

    @staticmethod
    def _filtered(select: sa.Select[Any], query: ModelQuery) -> sa.Select[Any]:
        if query.search:
            pattern = _like(query.search)
            select = select.where(
                sa.or_(
                    sa.func.lower(models.c.name).like(pattern, escape="\\"),
                    sa.func.lower(teams.c.name).like(pattern, escape="\\"),
                )
            )
        if query.team:
            select = select.where(teams.c.name == query.team)
        if query.stage == "none":
            staged = sa.select(aliases.c.model_id).where(aliases.c.name.in_(STAGE_ALIASES))
            select = select.where(models.c.id.not_in(staged))
        elif query.stage is not None:
            has = sa.select(aliases.c.model_id).where(aliases.c.name == query.stage)
            select = select.where(models.c.id.in_(has))
        return select

    def versions(self, name: str, page: int = 1, per_page: int = 50) -> Page[VersionRow]:
        """One page of a model's versions, newest first, each with its latest verdict."""
        if page < 1 or not 1 <= per_page <= MAX_PAGE:
            raise BadInput(f"page must be 1 or more and per_page 1 to {MAX_PAGE}")
        with read(self.engine) as conn:
            model_id = _model_id(conn, name)
            total = conn.execute(
                sa.select(sa.func.count()).where(versions.c.model_id == model_id)
            ).scalar()
            rows = conn.execute(
                sa.select(
                    versions.c.id,
                    versions.c.number,
                    versions.c.label,
                    versions.c.created_at,
                    versions.c.created_by,
                    _verdict_of(versions.c.id).label("verdict"),
                )
                .where(versions.c.model_id == model_id)
                .order_by(versions.c.number.desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            ).all()
            names: dict[int, list[str]] = {}
            for version_id, alias in conn.execute(
                sa.select(aliases.c.version_id, aliases.c.name)
                .where(aliases.c.version_id.in_([r.id for r in rows]))
                .order_by(aliases.c.name)
            ):
                names.setdefault(version_id, []).append(alias)
        return Page(
            [
                VersionRow(
                    r.number,
                    r.label,
                    r.created_at,
                    r.created_by,
                    r.verdict,
                    tuple(names.get(r.id, [])),
                )
                for r in rows
            ],
            int(total or 0),
            page,
            per_page,
        )

    def aliases(self, name: str) -> dict[str, int]:
        """Where each of a model's aliases points now (one small read, for stale forms)."""
        with read(self.engine) as conn:
            model_id = _model_id(conn, name)
            return self._aliases(conn, [model_id]).get(model_id, {})

    def audit(self, query: AuditQuery) -> Page[LogEntry]:
        """One page of the audit log, newest first, filtered."""
        select = sa.select(audit_log)
        if query.model:
            select = select.where(audit_log.c.model == query.model)
        if query.person:
            select = select.where(audit_log.c.actor == query.person)
        if query.team:
            members = (
                sa.select(people.c.name)
                .join(memberships, memberships.c.person_id == people.c.id)
                .join(teams, teams.c.id == memberships.c.team_id)
                .where(teams.c.name == query.team)
            )
            select = select.where(audit_log.c.actor.in_(members))
        if query.action:
            family = query.action.rstrip(".")
            select = select.where(
                sa.or_(
                    audit_log.c.action == family,
                    audit_log.c.action.like(_like(family)[1:-1] + ".%", escape="\\"),
                )
            )
        if query.since is not None:
            select = select.where(audit_log.c.at >= query.since)
        if query.until is not None:
            select = select.where(audit_log.c.at < query.until)
        matched = select.subquery("matched")
        with read(self.engine) as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(matched)).scalar()
            rows = conn.execute(
                sa.select(matched)
                .order_by(matched.c.id.desc())
                .offset((query.page - 1) * query.per_page)
                .limit(query.per_page)
            ).all()
        entries = [
            LogEntry(r.id, r.at, r.actor, r.action, r.model, r.version, r.reason, r.detail)
            for r in rows
        ]
        return Page(entries, int(total or 0), query.page, query.per_page)

    @staticmethod
    def _aliases(conn: sa.Connection, model_ids: list[int]) -> dict[int, dict[str, int]]:
        out: dict[int, dict[str, int]] = {}
        if not model_ids:
            return out
        for model_id, alias, number in conn.execute(
            sa.select(aliases.c.model_id, aliases.c.name, versions.c.number)
            .join(versions, versions.c.id == aliases.c.version_id)
            .where(aliases.c.model_id.in_(model_ids))
            .order_by(aliases.c.name)
        ):
            out.setdefault(model_id, {})[alias] = number
        return out


def _model_id(conn: sa.Connection, name: str) -> int:
    found = conn.execute(sa.select(models.c.id).where(models.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"unknown model {name!r}: the models page lists them")
    return int(found)

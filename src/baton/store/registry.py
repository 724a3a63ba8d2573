"""Models, versions, aliases and the audit log, on SQLite or PostgreSQL.

Version numbers are assigned inside the registering transaction; a clash with a concurrent
writer is retried (``store.tx.write``), so parallel registrations all succeed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from baton.core.chain import Head, Verdict
from baton.core.manifest import Manifest, describe_validation_error
from baton.core.refs import Ref, check_alias
from baton.errors import Conflict, Corrupt, NotFound
from baton.store import log_chain
from baton.store.tables import (
    aliases,
    audit_log,
    evaluations,
    models,
    teams,
    version_files,
    versions,
)
from baton.store.tx import append_entry, insert_id, read, utcnow, write


@dataclass(frozen=True)
class FileRecord:
    role: str  # "model", "eval_data", "manifest", "source"
    filename: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class VersionInfo:
    model: str
    number: int
    label: str | None
    sha256: str
    size_bytes: int
    manifest: Manifest  # validated once, when the store read it
    created_at: datetime
    created_by: str
    owner: str
    aliases: tuple[str, ...] = ()
    files: tuple[FileRecord, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.number}"

    def file(self, role: str) -> FileRecord:
        for f in self.files:
            if f.role == role:
                return f
        raise NotFound(f"{self.ref} has no {role} file")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    owner: str
    task: str
    created_at: datetime
    versions: int
    latest: int | None
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LogEntry:
    id: int
    at: datetime
    actor: str
    action: str
    model: str | None
    version: int | None
    reason: str | None
    detail: dict[str, object]  # a JSON object: what the entry says beyond its fields


@dataclass(frozen=True)
class Registered:
    version: VersionInfo
    created: bool  # False: the same bytes were already registered as this version


class Registry:
    """The registry's service functions; the CLI and the API call these and nothing lower."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.alias_lookups = 0  # resolve() calls that read an alias (not a pinned number)

    # -- writes ---------------------------------------------------------------------------

    def register(
        self, manifest: Manifest, files: list[FileRecord], actor: str, reason: str | None = None
    ) -> Registered:
        """Add a version (numbered 1, 2, 3... per model) or report the identical one."""
        model_file = next(f for f in files if f.role == "model")

        def work(conn: sa.Connection) -> Registered:
            model_id = self._model_for(conn, manifest, actor, reason)
            existing = conn.execute(
                sa.select(versions.c.number).where(
                    versions.c.model_id == model_id, versions.c.sha256 == model_file.sha256
                )
            ).scalar()
            if existing is not None:
                version = self._version(conn, manifest.name, existing)
                refuse_changed_handover(version, manifest, files)
                return Registered(version, created=False)
            number = self._add_version(conn, model_id, manifest, files, actor, reason)
            return Registered(self._version(conn, manifest.name, number), created=True)

        return write(self.engine, work)

    def _model_for(
        self, conn: sa.Connection, manifest: Manifest, actor: str, reason: str | None
    ) -> int:
        """The model's id, created on its first hand-over; a hand-over never moves ownership."""
        team_id = self._ensure_team(conn, manifest.owner, actor)
        row = conn.execute(
            sa.select(models.c.id, models.c.owner_team_id).where(models.c.name == manifest.name)
        ).first()
        if row is None:
            model_id = insert_id(
                conn,
                models.insert().values(
                    name=manifest.name,
                    owner_team_id=team_id,
                    task=manifest.task.value,
                    created_at=utcnow(),
                ),
            )
            append_entry(
                conn,
                actor,
                "model.create",
                manifest.name,
                None,
                reason,
                {"owner": manifest.owner, "task": manifest.task.value},
            )
            return model_id
        if row.owner_team_id != team_id:
            current = conn.execute(
                sa.select(teams.c.name).where(teams.c.id == row.owner_team_id)
            ).scalar_one()
            raise Conflict(
                f"model {manifest.name!r} is owned by team {current!r}, but baton.yaml "
                f"says owner: {manifest.owner}; set owner: {current} (ownership moves "
                "only by agreement, not by a hand-over)"
            )
        return int(row.id)

    def _add_version(
        self,
        conn: sa.Connection,
        model_id: int,
        manifest: Manifest,
        files: list[FileRecord],
        actor: str,
        reason: str | None,
    ) -> int:
        """Insert the next version with its files, log it and point ``candidate`` at it."""
        model_file = next(f for f in files if f.role == "model")
        number = 1 + (
            conn.execute(
                sa.select(sa.func.max(versions.c.number)).where(versions.c.model_id == model_id)
            ).scalar()
            or 0
        )
        version_id = insert_id(
            conn,
            versions.insert().values(
                model_id=model_id,
                number=number,
                label=manifest.version,
                sha256=model_file.sha256,
                size_bytes=model_file.size_bytes,
                manifest=manifest.to_json_dict(),
                created_at=utcnow(),
                created_by=actor,
            ),
        )
        conn.execute(
            version_files.insert(),
            [
                {
                    "version_id": version_id,
                    "role": f.role,
                    "filename": f.filename,
                    "sha256": f.sha256,
                    "size_bytes": f.size_bytes,
                }
                for f in files
            ],
        )
        append_entry(
            conn,
            actor,
            "version.register",
            manifest.name,
            number,
            reason,
            {"sha256": model_file.sha256, "label": manifest.version, "lineage": manifest.lineage},
        )
        self.set_alias_in(
            conn, model_id, manifest.name, "candidate", version_id, number, actor, reason
        )
        return number

    def set_alias(
        self, name: str, alias: str, number: int, actor: str, reason: str | None = None
    ) -> int | None:
        """Point ``name@alias`` at version ``number``; returns the version it pointed at before."""
        check_alias(alias)

        def work(conn: sa.Connection) -> int | None:
            model_id = self._model_id(conn, name)
            version_id = conn.execute(
                sa.select(versions.c.id).where(
                    versions.c.model_id == model_id, versions.c.number == number
                )
            ).scalar()
            if version_id is None:
                raise NotFound(
                    f"{name} has no version {number}: `baton show {name}` lists its versions"
                )
            return self.set_alias_in(conn, model_id, name, alias, version_id, number, actor, reason)

        return write(self.engine, work)

    def append_entry(
        self,
        actor: str,
        action: str,
        model: str | None = None,
        version: int | None = None,
        reason: str | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> None:
        write(
            self.engine,
            lambda conn: append_entry(conn, actor, action, model, version, reason, detail or {}),
        )

    # -- reads ----------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        with read(self.engine) as conn:
            return self._model_infos(conn)

    def model(self, name: str) -> tuple[ModelInfo, list[VersionInfo]]:
        """A model with all its versions, newest first (one read, this model only)."""
        with read(self.engine) as conn:
            self._model_id(conn, name)
            (info,) = self._model_infos(conn, name)
            numbers = conn.execute(
                sa.select(versions.c.number)
                .join(models, models.c.id == versions.c.model_id)
                .where(models.c.name == name)
                .order_by(versions.c.number.desc())
            ).scalars()
            return info, [self._version(conn, name, n) for n in numbers.all()]

    def _model_infos(self, conn: sa.Connection, name: str | None = None) -> list[ModelInfo]:
        query = (
            sa.select(
                models.c.id,
                models.c.name,
                models.c.task,
                models.c.created_at,
                teams.c.name.label("owner"),
                sa.func.count(versions.c.id).label("n"),
                sa.func.max(versions.c.number).label("latest"),
            )
            .join(teams, teams.c.id == models.c.owner_team_id)
            .outerjoin(versions, versions.c.model_id == models.c.id)
            .group_by(models.c.id, models.c.name, models.c.task, models.c.created_at, teams.c.name)
            .order_by(models.c.name)
        )
        if name is not None:
            query = query.where(models.c.name == name)
        rows = conn.execute(query).all()
        alias_map = self._alias_map(conn)
        return [
            ModelInfo(r.name, r.owner, r.task, r.created_at, r.n, r.latest, alias_map.get(r.id, {}))
            for r in rows
        ]

    def resolve(self, ref: Ref) -> VersionInfo:
        """The version a reference means: a number, an alias, or for a bare name the
        ``production`` alias and, failing that, the newest version."""
        if ref.version is None:
            self.alias_lookups += 1
        with read(self.engine) as conn:
            model_id = self._model_id(conn, ref.name)
            if ref.version is not None:
                return self._version(conn, ref.name, ref.version)
            alias_names = self._alias_map(conn).get(model_id, {})
            if ref.alias is not None:
                if ref.alias not in alias_names:
                    have = ", ".join(f"@{a}" for a in sorted(alias_names)) or "none"
                    raise NotFound(
                        f"{ref.name} has no alias @{ref.alias} (it has: {have}); "
                        f"set one with `baton alias set {ref.name}@{ref.alias} VERSION`"
                    )
                return self._version(conn, ref.name, alias_names[ref.alias])
            if "production" in alias_names:
                return self._version(conn, ref.name, alias_names["production"])
            latest = conn.execute(
                sa.select(sa.func.max(versions.c.number)).where(versions.c.model_id == model_id)
            ).scalar()
            if latest is None:
                raise NotFound(
                    f"{ref.name} has no versions yet: register one with `baton register`"
                )
            return self._version(conn, ref.name, latest)

    def log_entries(self, model: str | None = None, limit: int = 50) -> list[LogEntry]:
        """Audit-log entries, newest first."""
        with read(self.engine) as conn:
            query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
            if model is not None:
                query = query.where(audit_log.c.model == model)
            return [
                LogEntry(r.id, r.at, r.actor, r.action, r.model, r.version, r.reason, r.detail)
                for r in conn.execute(query)
            ]

    def verify_log(self, kept: Head | None = None) -> Verdict:
        """Check the whole audit log's chain with the store's key (and a head kept elsewhere)."""
        with read(self.engine) as conn:
            return log_chain.check(conn, log_chain.key_of(conn), kept)

    def log_head(self) -> Head:
        """The newest log entry's position and seal, to keep elsewhere."""
        with read(self.engine) as conn:
            return log_chain.last_head(conn)

    def version_with_model(self, name: str, sha256: str) -> VersionInfo | None:
        """The version of ``name`` whose model file has these bytes, if one was registered."""
        with read(self.engine) as conn:
            number = conn.execute(
                sa.select(versions.c.number)
                .join(models, models.c.id == versions.c.model_id)
                .where(models.c.name == name, versions.c.sha256 == sha256)
            ).scalar()
            return None if number is None else self._version(conn, name, number)

    def referenced_digests(self) -> set[str]:
        """Every stored file a record names: versions' files and derived artifacts (the int8
        copy an evaluation recommends). ``baton gc`` keeps exactly these."""
        recommended = evaluations.c.recommended["model_sha256"].as_string()
        in_report = evaluations.c.report[("recommended", "model_sha256")].as_string()
        with read(self.engine) as conn:
            found = set(conn.execute(sa.select(version_files.c.sha256)).scalars())
            found |= set(conn.execute(sa.select(versions.c.sha256)).scalars())
            for query in (sa.select(recommended), sa.select(in_report)):
                found |= {d for d in conn.execute(query).scalars() if d}
            return found

    def check_reachable(self) -> None:
        with read(self.engine) as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- helpers --------------------------------------------------------------------------

    def _ensure_team(self, conn: sa.Connection, name: str, actor: str) -> int:
        team_id = conn.execute(sa.select(teams.c.id).where(teams.c.name == name)).scalar()
        if team_id is None:
            team_id = insert_id(conn, teams.insert().values(name=name, created_at=utcnow()))
            append_entry(
                conn,
                actor,
                "team.create",
                None,
                None,
                "named as owner in a hand-over",
                {"team": name},
            )
        return int(team_id)

    def _model_id(self, conn: sa.Connection, name: str) -> int:
        model_id = conn.execute(sa.select(models.c.id).where(models.c.name == name)).scalar()
        if model_id is None:
            known = (
                conn.execute(sa.select(models.c.name).order_by(models.c.name).limit(8))
                .scalars()
                .all()
            )
            hint = f"known models: {', '.join(known)}" if known else "no model is registered yet"
            raise NotFound(f"unknown model {name!r} ({hint}); `baton models` lists them")
        return int(model_id)

    def _alias_map(self, conn: sa.Connection) -> dict[int, dict[str, int]]:
        out: dict[int, dict[str, int]] = {}
        rows = conn.execute(
            sa.select(aliases.c.model_id, aliases.c.name, versions.c.number).join(
                versions, versions.c.id == aliases.c.version_id
            )
        )
        for model_id, alias, number in rows:
            out.setdefault(model_id, {})[alias] = number
        return out

    def _version(self, conn: sa.Connection, name: str, number: int) -> VersionInfo:
        row = conn.execute(
            sa.select(versions, models.c.name.label("model_name"), teams.c.name.label("owner"))
            .join(models, models.c.id == versions.c.model_id)
            .join(teams, teams.c.id == models.c.owner_team_id)
            .where(models.c.name == name, versions.c.number == number)
        ).first()
        if row is None:
            raise NotFound(
                f"{name} has no version {number}: `baton show {name}` lists its versions"
            )
        alias_names = (
            conn.execute(
                sa.select(aliases.c.name)
                .where(aliases.c.version_id == row.id)
                .order_by(aliases.c.name)
            )
            .scalars()
            .all()
        )
        files = conn.execute(
            sa.select(version_files)
            .where(version_files.c.version_id == row.id)
            .order_by(version_files.c.role)
        ).all()
        return VersionInfo(
            model=name,
            number=row.number,
            label=row.label,
            sha256=row.sha256,
            size_bytes=row.size_bytes,
            manifest=stored_manifest(row.manifest, f"{name}:{row.number}"),
            created_at=row.created_at,
            created_by=row.created_by,
            owner=row.owner,
            aliases=tuple(alias_names),
            files=tuple(
                FileRecord(
                    role=f.role, filename=f.filename, sha256=f.sha256, size_bytes=f.size_bytes
                )
                for f in files
            ),
        )

    def set_alias_in(
        self,
        conn: sa.Connection,
        model_id: int,
        name: str,
        alias: str,
        version_id: int,
        number: int,
        actor: str,
        reason: str | None,
    ) -> int | None:
        """Move an alias inside the caller's transaction (promotion does, after its checks)."""
        previous = conn.execute(
            sa.select(versions.c.number)
            .join(aliases, aliases.c.version_id == versions.c.id)
            .where(aliases.c.model_id == model_id, aliases.c.name == alias)
        ).scalar()
        if previous is None:
            insert_id(
                conn,
                aliases.insert().values(
                    model_id=model_id,
                    name=alias,
                    version_id=version_id,
                    updated_at=utcnow(),
                    updated_by=actor,
                ),
            )
        else:
            conn.execute(
                aliases.update()
                .where(aliases.c.model_id == model_id, aliases.c.name == alias)
                .values(version_id=version_id, updated_at=utcnow(), updated_by=actor)
            )
        append_entry(
            conn, actor, "alias.set", name, number, reason, {"alias": alias, "previous": previous}
        )
        return int(previous) if previous is not None else None


def refuse_changed_handover(
    version: VersionInfo, manifest: Manifest, files: list[FileRecord]
) -> None:
    """Same model bytes as ``version`` must come with the same hand-over.

    A version's manifest and eval data are what its evaluation judged; silently keeping the
    old ones while the user believes the new ones were taken would be worse than refusing.
    A changed ``baton.yaml`` that parses to the same manifest (comments, layout) is the same.
    """
    old = version.manifest.to_json_dict()
    new = manifest.to_json_dict()
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    have = {f.role: f.sha256 for f in version.files if f.role not in ("model", "manifest")}
    given = {f.role: f.sha256 for f in files if f.role not in ("model", "manifest")}
    names = {"eval_data": "eval data", "source": "source model file"}
    changed += sorted(
        names.get(r, r) for r in have.keys() | given.keys() if have.get(r) != given.get(r)
    )
    if changed:
        raise Conflict(
            f"these model bytes are already {version.ref}, registered with a different "
            f"hand-over ({', '.join(changed)} changed): a version's manifest and eval data "
            f"are fixed once registered. Undo the change to keep {version.ref}, or hand over "
            "new model bytes to register a new version"
        )


def stored_manifest(stored: Any, ref: str) -> Manifest:
    """A version's manifest as registered, validated once when read."""
    try:
        return Manifest.model_validate(stored)
    except ValidationError as exc:
        raise Corrupt(
            f"{ref} has a stored manifest baton cannot read ({describe_validation_error(exc)})"
        ) from None

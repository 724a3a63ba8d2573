"""Settings, read once at the edge (CLI, server start-up) and passed down.

No other module reads environment variables.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from baton.core.durations import parse_duration
from baton.yaml_limits import MANIFEST_LIMITS, YamlLimits

ENV_PREFIX = "BATON_"

DEFAULT_API_MAX_BODY = 1024 * 1024  # JSON bodies; no control-plane route needs more


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, ImportError, OSError):  # a uid with no login name (some containers)
        return "unknown"


class Settings(BaseModel):
    """Where baton keeps its state, and who is acting.

    Embedded default: everything under ``./.baton`` (SQLite file + artifact folder). A team
    points ``BATON_DB_URL`` at PostgreSQL and ``BATON_ARTIFACTS`` at a shared folder.

    Each field reads ``BATON_<FIELD>`` (any case); a value passed in wins over the
    variable. A plain model reading ``os.environ`` rather than pydantic-settings: that
    package and its imports cost 30 ms of every command's start-up, for what is a loop.
    """

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**from_environment(os.environ), **values})

    home: Path = Field(default=Path(".baton"), description="state folder (BATON_HOME)")
    db_url: str | None = Field(default=None, description="SQLAlchemy URL (BATON_DB_URL)")
    artifacts: Path | None = Field(default=None, description="artifact folder (BATON_ARTIFACTS)")
    user: str = Field(default_factory=_default_actor, description="who acts (BATON_USER)")
    debug: bool = Field(default=False, description="show tracebacks (BATON_DEBUG)")
    policy: Path | None = Field(
        default=None, description="team gate policy YAML for `baton evaluate` (BATON_POLICY)"
    )
    url: str | None = Field(
        default=None, description="remote control plane, e.g. http://baton:8700 (BATON_URL)"
    )
    token: SecretStr | None = Field(
        default=None, description="your API token for BATON_URL; never printed (BATON_TOKEN)"
    )
    api_max_body: int = Field(
        default=DEFAULT_API_MAX_BODY,
        ge=1024,
        le=1024**3,
        description="largest request body `baton api` reads, in bytes (BATON_API_MAX_BODY)",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="the key that seals the audit log, 32+ characters; every writer of one "
        "database needs the same key; never printed (BATON_AUDIT_KEY)",
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="file holding that key when BATON_AUDIT_KEY is unset; default "
        "BATON_HOME/audit.key, created readable by its owner only (BATON_AUDIT_KEY_FILE)",
    )
    prometheus_url: str = Field(
        default="http://127.0.0.1:9090",
        description="the Prometheus `baton audit` reads (BATON_PROMETHEUS_URL)",
    )
    runbook_url: str | None = Field(
        default=None,
        description="the runbook page alerts link to, one section per alert "
        "(BATON_RUNBOOK_URL); unset: baton's own docs/runbooks.md",
    )
    manifest_max_bytes: int = Field(
        default=MANIFEST_LIMITS.max_bytes,
        gt=0,
        description="largest baton.yaml (BATON_MANIFEST_MAX_BYTES)",
    )
    manifest_max_depth: int = Field(
        default=MANIFEST_LIMITS.max_depth,
        gt=0,
        description="deepest nesting in baton.yaml (BATON_MANIFEST_MAX_DEPTH)",
    )
    manifest_max_nodes: int = Field(
        default=MANIFEST_LIMITS.max_nodes,
        gt=0,
        description="most keys, values and items in baton.yaml (BATON_MANIFEST_MAX_NODES)",
    )
    manifest_max_string: int = Field(
        default=MANIFEST_LIMITS.max_string,
        gt=0,
        description="longest key or value in baton.yaml (BATON_MANIFEST_MAX_STRING)",
    )
    serve_admin_token: SecretStr | None = Field(
        default=None,
        description="token `baton serve` asks of model load/unload requests; unset: those "
        "routes are off (BATON_SERVE_ADMIN_TOKEN)",
    )
    router_admin_token: SecretStr | None = Field(
        default=None,
        description="token `baton router` asks of weight changes (PUT /router/weights); "
        "unset (and no --admin-token-file): weight changes are off (BATON_ROUTER_ADMIN_TOKEN)",
    )
    gc_grace: str = Field(
        default="24h",
        description="`baton gc` keeps unreferenced files younger than this, as a registration "
        "may still be storing them (BATON_GC_GRACE; 0 only when nothing else uses the store)",
    )

    @field_validator("runbook_url")
    @classmethod
    def _check_runbook(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(("http://", "https://")) or "#" in value):
            raise ValueError("must be an http(s) URL without a #anchor (each alert adds its own)")
        return value

    @field_validator("gc_grace")
    @classmethod
    def _check_grace(cls, value: str) -> str:
        grace_seconds(value)
        return value

    @property
    def gc_grace_seconds(self) -> float:
        return grace_seconds(self.gc_grace)

    @property
    def manifest_limits(self) -> YamlLimits:
        """What one hand-over manifest may hold; beyond it, registration refuses it."""
        return YamlLimits(
            self.manifest_max_bytes,
            self.manifest_max_depth,
            self.manifest_max_nodes,
            self.manifest_max_string,
            settings=MANIFEST_LIMITS.settings,
        )

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'baton.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        return (self.artifacts or self.home / "artifacts").resolve()

    @property
    def audit_key_path(self) -> Path:
        return (self.audit_key_file or self.home / "audit.key").resolve()

    @property
    def scrape_targets(self) -> Path:
        """Where each running ``baton serve`` lists itself for Prometheus file discovery."""
        return (self.home / "monitor" / "targets").resolve()


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The settings ``environ`` holds, by field name: ``BATON_DB_URL`` (or ``baton_db_url``)
    is ``db_url``; variables naming no setting are ignored, as a typo in any other
    variable would be."""
    fields, skip = Settings.model_fields, len(ENV_PREFIX)
    return {
        key[skip:].lower(): value
        for key, value in environ.items()
        if key.upper().startswith(ENV_PREFIX) and key[skip:].lower() in fields
    }


def grace_seconds(text: str) -> float:
    """A grace period: a duration such as 24h, or 0 for none."""
    return 0.0 if text.strip() == "0" else parse_duration(text)

"""One entry of the exporter hub (``exporter.yaml``): what it measures and how to run it.

Pure: the hub reads the file and hands the mapping here, so a malformed entry is refused
with a message naming the field before any of its files are copied anywhere.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from baton.core.manifest import describe_validation_error
from baton.errors import BadInput

ENTRY_FILE = "exporter.yaml"
ENTRY_NAME = r"[a-z][a-z0-9_-]{1,40}"
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class Category(StrEnum):
    HOST = "host"
    GPU = "gpu"
    CONTAINER = "container"
    PROCESS = "process"
    PROBE = "probe"
    KUBERNETES = "kubernetes"
    DATABASE = "database"
    CACHE = "cache"
    SERVING = "serving"


class Requirement(StrEnum):
    """What the host must grant the exporter; shown before anyone installs it."""

    GPU = "gpu"  # an NVIDIA GPU and driver on the host
    PRIVILEGED = "privileged"  # a privileged container or root
    HOST_PID = "host_pid"  # sees the host's processes
    HOST_NETWORK = "host_network"
    HOST_FILESYSTEM = "host_filesystem"  # /proc, /sys or / mounted read-only
    KUBERNETES_API = "kubernetes_api"  # a service account that may list objects
    DATABASE_CREDENTIALS = "database_credentials"


class Install(BaseModel):
    """The ways teams run an exporter; ``None`` where that way does not exist."""

    model_config = ConfigDict(extra="forbid")

    debian: str | None = Field(default=None, description="apt package name")
    pip: str | None = Field(default=None, description="pip requirement")
    container: str | None = Field(default=None, description="a docker run command line")
    helm: str | None = Field(default=None, description="chart, as repo/chart")
    helm_repo: str | None = Field(default=None, pattern="^https://", description="chart repo URL")

    @model_validator(mode="after")
    def _at_least_one(self) -> Install:
        if not (self.debian or self.pip or self.container or self.helm):
            raise ValueError("give at least one of debian, pip, container, helm")
        if self.helm and not self.helm_repo:
            raise ValueError("a helm chart needs helm_repo, the URL to `helm repo add`")
        return self


class KeyMetric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    type: str = Field(pattern="^(counter|gauge|histogram|summary|info)$")
    help: str = Field(min_length=1, description="what it tells a serving team")

    @field_validator("name")
    @classmethod
    def _metric_name(cls, name: str) -> str:
        if not _METRIC_NAME.match(name):
            raise ValueError(f"{name!r} is not a Prometheus metric name")
        return name


class Provenance(BaseModel):
    """Where the alert rules came from, so adapted rules keep their credit and licence."""

    model_config = ConfigDict(extra="forbid")

    rules: str = Field(min_length=1, description="original, or the project the rules adapt")
    licence: str = Field(min_length=1, description="licence of the rules as shipped here")
    url: str | None = None


class ExporterEntry(BaseModel):
    """``exporter.yaml``: identity, pinned version, where it listens, install, key metrics."""

    model_config = ConfigDict(extra="forbid", title="baton exporter hub entry")

    name: str = Field(pattern=f"^{ENTRY_NAME}$", description="folder name; `baton exporters add`")
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1, description="what it measures, in one sentence")
    upstream: str = Field(pattern="^https://", description="project home")
    category: Category
    version: str = Field(min_length=1, description="pinned upstream version the sample is from")
    image: str | None = Field(default=None, description="pinned container image, with tag")
    port: int = Field(ge=1, le=65535, description="default listening port")
    metrics_path: str = Field(default="/metrics", pattern="^/")
    job: str = Field(pattern=f"^{ENTRY_NAME}$", description="scrape job name in scrape.yaml")
    requires: list[Requirement] = Field(default_factory=list)
    install: Install
    key_metrics: list[KeyMetric] = Field(min_length=1)
    provenance: Provenance

    @field_validator("image")
    @classmethod
    def _pinned_image(cls, image: str | None) -> str | None:
        if image is None:
            return None
        tag = image.rsplit("/", 1)[-1]
        if ":" not in tag or tag.endswith((":latest", ":")):
            raise ValueError(f"pin the image to a version tag (got {image!r})")
        return image


def parse_entry(data: Any, source: str = ENTRY_FILE) -> ExporterEntry:
    """Validate a parsed ``exporter.yaml``; one line naming the field when it is wrong."""
    if not isinstance(data, dict):
        raise BadInput(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return ExporterEntry.model_validate(data)
    except ValidationError as exc:
        detail = describe_validation_error(exc).replace(
            "`baton schema manifest` lists the fields", "see baton/core/exporter_entry.py"
        )
        raise BadInput(f"{source}: {detail}") from None

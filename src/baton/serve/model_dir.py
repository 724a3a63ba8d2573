"""A model folder: one version, served with no registry or database (``--model-dir``).

The deploy renderer writes it (``deploy/bundle.py``) into images and volumes; the server
reads it here. ``MANIFEST.json`` names the version and every file with its sha256; each
file is checked against its digest before it is used, so a folder changed after it was
rendered is refused, naming the file. ``serving.json`` holds what the registry-backed
server would read from the version's latest evaluation: the recommended configuration and
the drift reference, so batching, metrics and drift behave the same.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.core.evaluation import DriftReferences, EvaluationReport
from baton.core.manifest import Manifest, describe_validation_error
from baton.core.refs import NAME_PATTERN, Ref
from baton.core.serving_config import ServingConfig
from baton.errors import BadInput, Corrupt, NotFound
from baton.store.artifacts import file_sha256
from baton.store.evaluations import EvaluationRecord
from baton.store.registry import FileRecord, VersionInfo

FORMAT = "baton-model-dir/1"
INDEX = "MANIFEST.json"
MANIFEST = "baton.yaml"
SERVING = "serving.json"
SHA256 = r"^[0-9a-f]{64}$"
FILE_NAME = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$"  # a plain name: nothing outside the folder


class DirFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["model", "manifest", "serving", "derived"]
    path: str = Field(pattern=FILE_NAME)
    sha256: str = Field(pattern=SHA256)
    size_bytes: int = Field(ge=0)
    derived_from: str | None = Field(
        default=None, pattern=SHA256, description="derived only: the file it was made from"
    )


class DirIndex(BaseModel):
    """``MANIFEST.json`` of a model folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["baton-model-dir/1"] = "baton-model-dir/1"
    model: str = Field(pattern=f"^{NAME_PATTERN}$")
    version: int = Field(ge=1)
    label: str | None = None
    owner: str
    created_at: datetime
    created_by: str
    sha256: str = Field(pattern=SHA256, description="the version's model file")
    files: tuple[DirFile, ...]


class ServingFile(BaseModel):
    """``serving.json``: the parts of the latest evaluation a server reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluation: int = Field(ge=1)
    status: Literal["passed", "failed", "error"]
    finished_at: datetime
    actor: str
    recommended: ServingConfig | None = None
    drift_reference: DriftReferences | None = None


class ModelDir:
    """A model folder as a ``serve.source.ModelSource``: one version, one evaluation."""

    def __init__(self, root: Path, index: DirIndex) -> None:
        self.root = root
        self.index = index
        self._by_sha = {f.sha256: f for f in index.files}
        manifest = _read_manifest(self)
        self.info = VersionInfo(
            model=index.model,
            number=index.version,
            label=index.label,
            sha256=index.sha256,
            size_bytes=self._by_sha[index.sha256].size_bytes,
            manifest=manifest,
            created_at=index.created_at,
            created_by=index.created_by,
            owner=index.owner,
            files=tuple(
                FileRecord(f.role, f.path, f.sha256, f.size_bytes)
                for f in index.files
                if f.role in ("model", "manifest")
            ),
        )
        self.serving = _read_serving(self)

    # ModelSource: the folder is its own registry, evaluations and artifacts
    @property
    def registry(self) -> ModelDir:
        return self

    @property
    def evaluations(self) -> ModelDir:
        return self

    @property
    def artifacts(self) -> ModelDir:
        return self

    def close(self) -> None:
        return None

    @property
    def alias_lookups(self) -> int:
        return 0  # one pinned version and no aliases

    @property
    def ref(self) -> str:
        return self.info.ref

    def resolve(self, ref: Ref) -> VersionInfo:
        if ref.name != self.info.model or ref.version not in (None, self.info.number):
            raise NotFound(f"{ref} is not in this model folder (it holds {self.info.ref})")
        if ref.alias is not None:
            raise NotFound(f"{ref}: a model folder holds one version and no aliases")
        return self.info

    def latest(self, model: str, version: int) -> EvaluationRecord | None:
        s = self.serving
        if s is None or (model, version) != (self.info.model, self.info.number):
            return None
        report = (
            EvaluationReport(drift_reference=s.drift_reference)
            if s.drift_reference
            else EvaluationReport()
        )
        return EvaluationRecord(
            id=s.evaluation,
            model=model,
            version=version,
            against=None,
            status=s.status,
            started_at=s.finished_at,
            finished_at=s.finished_at,
            actor=s.actor,
            report=report,
            recommended=s.recommended,
            error=None,
        )

    def path_for(self, sha256: str) -> Path:
        found = self._by_sha.get(sha256)
        if found is None:
            serving = getattr(self, "serving", None)  # None while the folder is being read
            recommended = serving.recommended if serving is not None else None
            if recommended is not None and recommended.model_sha256 == sha256:
                raise NotFound(
                    f"the model folder {self.root} holds no {recommended.precision} copy "
                    f"({sha256[:12]}): render it with `baton deploy render {self.ref} "
                    f"--precision {recommended.precision}`"
                )
            raise NotFound(f"file {sha256[:12]} is not in the model folder {self.root}")
        return self.root / found.path

    def verified_path(self, sha256: str) -> Path:
        """The file's path once its bytes hash to the digest ``MANIFEST.json`` records."""
        path = self.path_for(sha256)
        name = self._by_sha[sha256].path
        if not path.is_file():
            raise NotFound(f"{path} is missing: the model folder is incomplete; render it again")
        actual = file_sha256(path)
        if actual != sha256:
            raise Corrupt(
                f"{path} does not match {INDEX} (its bytes hash to {actual[:12]}, "
                f"{INDEX} records {sha256[:12]}): {name} changed after it was rendered"
            )
        return path

    def read_verified(self, role: str) -> bytes:
        entry = next((f for f in self.index.files if f.role == role), None)
        if entry is None:
            raise BadInput(f"{self.root / INDEX} lists no {role} file")
        data = self.verified_path(entry.sha256).read_bytes()
        if len(data) != entry.size_bytes:
            raise Corrupt(f"{self.root / entry.path} changed while being read")
        return data


def _read_manifest(folder: ModelDir) -> Manifest:
    from baton.handover.bundle import manifest_from_text

    text = folder.read_verified("manifest").decode("utf-8", errors="replace")
    return manifest_from_text(text, str(folder.root / MANIFEST))


def _read_serving(folder: ModelDir) -> ServingFile | None:
    if not any(f.role == "serving" for f in folder.index.files):
        return None  # never evaluated: default settings, no drift reference
    data = folder.read_verified("serving")
    try:
        return ServingFile.model_validate_json(data)
    except ValidationError as exc:
        raise BadInput(f"{folder.root / SERVING}: {describe_validation_error(exc)}") from None


def open_model_dir(root: Path) -> ModelDir:
    """Read and check a model folder; one line naming the problem when it is not one."""
    if not root.is_dir():
        raise BadInput(
            f"--model-dir {root}: no such folder (render one with `baton deploy render`)"
        )
    index_path = root / INDEX
    try:
        raw = json.loads(index_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{root} holds no {INDEX}: it is not a model folder") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{index_path} cannot be read as JSON ({exc})") from None
    try:
        index = DirIndex.model_validate(raw)
    except ValidationError as exc:
        raise BadInput(f"{index_path}: {describe_validation_error(exc)}") from None
    _check_index(index, index_path)
    return ModelDir(root, index)


def _check_index(index: DirIndex, where: Path) -> None:
    roles = [f.role for f in index.files]
    for role in ("model", "manifest"):
        if roles.count(role) != 1:
            raise BadInput(f"{where}: expected exactly one {role} file, found {roles.count(role)}")
    if roles.count("serving") > 1 or roles.count("derived") > 1:
        raise BadInput(f"{where}: expected at most one serving file and one derived file")
    model = next(f for f in index.files if f.role == "model")
    if model.sha256 != index.sha256:
        raise BadInput(f"{where}: the model file's digest is not the version's ({index.sha256})")
    for f in index.files:  # a derived copy is tied to the model it was made from
        tied = f.derived_from == index.sha256 if f.role == "derived" else f.derived_from is None
        if not tied:
            raise BadInput(
                f"{where}: {f.path}: only a derived file names derived_from, and it names "
                f"the version's model ({index.sha256[:12]})"
            )
    paths = [f.path for f in index.files]
    if len(set(paths)) != len(paths) or len({f.sha256 for f in index.files}) != len(paths):
        raise BadInput(f"{where}: a file or digest is listed twice")

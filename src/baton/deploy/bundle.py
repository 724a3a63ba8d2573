"""Write a version's model folder (``serve/model_dir.py`` reads it): what a container serves.

Every file is copied from the verified artifact store, so the folder holds what the
registry holds; the bytes depend only on the registry entry, its latest evaluation and
whether the int8 copy goes along, so two renders of the same version are identical. The
int8 copy is listed as ``derived`` from the model's digest: a server takes it only while
the model it was quantised from verifies too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import yaml

from baton.errors import Corrupt
from baton.serve.model_dir import INDEX, MANIFEST, SERVING, DirFile, DirIndex, ServingFile
from baton.store.artifacts import file_sha256
from baton.store.evaluations import EvaluationRecord
from baton.store.registry import VersionInfo
from baton.store.store import Store

MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


def canonical_json(data: object) -> bytes:
    """JSON as baton writes files that are hashed: sorted keys, two-space indent, newline."""
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def serving_file(evaluation: EvaluationRecord) -> ServingFile:
    """The parts of an evaluation a server reads: its recommendation and drift reference."""
    return ServingFile(
        evaluation=evaluation.id,
        status=evaluation.status,
        finished_at=evaluation.finished_at,
        actor=evaluation.actor,
        recommended=evaluation.recommended,
        drift_reference=evaluation.report.drift_reference,
    )


def int8_copy(evaluation: EvaluationRecord | None) -> str | None:
    """The digest of the int8 copy the evaluation recommends, if it made one."""
    recommended = evaluation.recommended if evaluation is not None else None
    if recommended is None or recommended.precision != "int8":
        return None
    return recommended.model_sha256


def write_model_dir(
    store: Store,
    info: VersionInfo,
    evaluation: EvaluationRecord | None,
    dest: Path,
    *,
    int8: bool = True,
) -> DirIndex:
    """Fill ``dest`` (an empty folder) with the version's model folder; its index back.

    ``int8``: the evaluation's int8 copy goes along when it made one (a deploy render asks
    for it only when the folder is to serve it: ``--precision int8``).
    """
    dest.mkdir(parents=True, exist_ok=True)
    files = [_copy(store, info.sha256, dest / MODEL_FILE, "model")]
    files.append(_write(dest / MANIFEST, _manifest_bytes(store, info), "manifest"))
    copy = int8_copy(evaluation)
    if int8 and copy is not None and copy != info.sha256:
        files.append(_copy(store, copy, dest / INT8_FILE, "derived", derived_from=info.sha256))
    if evaluation is not None:
        serving = serving_file(evaluation)
        files.append(
            _write(dest / SERVING, canonical_json(serving.model_dump(mode="json")), "serving")
        )
    index = DirIndex(
        model=info.model,
        version=info.number,
        label=info.label,
        owner=info.owner,
        created_at=info.created_at,
        created_by=info.created_by,
        sha256=info.sha256,
        files=tuple(files),
    )
    (dest / INDEX).write_bytes(canonical_json(index_json(index)))
    return index


def index_json(index: DirIndex) -> dict[str, object]:
    """``MANIFEST.json``'s document: only a derived file names the file it came from."""
    document = index.model_dump(mode="json")
    document["files"] = [f.model_dump(mode="json", exclude_none=True) for f in index.files]
    return document


def _manifest_bytes(store: Store, info: VersionInfo) -> bytes:
    """The hand-over's own ``baton.yaml`` when it was stored, else the registered fields."""
    stored = next((f for f in info.files if f.role == "manifest"), None)
    if stored is not None:
        return store.artifacts.read_bytes(stored.sha256)
    text = yaml.safe_dump(info.manifest.to_json_dict(), sort_keys=False, allow_unicode=True)
    return text.encode()


def _copy(
    store: Store, sha256: str, target: Path, role: str, derived_from: str | None = None
) -> DirFile:
    source = store.artifacts.verified_path(sha256)
    shutil.copyfile(source, target)
    if file_sha256(target) != sha256:  # changed while copied: never ship it
        raise Corrupt(f"artifact {sha256[:12]} changed while being copied; render again")
    entry = {"role": role, "path": target.name, "sha256": sha256}
    return DirFile.model_validate(
        {**entry, "size_bytes": target.stat().st_size, "derived_from": derived_from}
    )


def _write(target: Path, data: bytes, role: str) -> DirFile:
    target.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return DirFile.model_validate(
        {"role": role, "path": target.name, "sha256": sha, "size_bytes": len(data)}
    )

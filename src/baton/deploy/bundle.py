"""Write a version's model folder (``serve/model_dir.py`` reads it): what a container serves.

Every file is copied from the verified artifact store, so the folder holds what the
registry holds; the bytes depend only on the registry entry and its latest evaluation,
so two renders of the same version are identical.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from baton.errors import Corrupt
from baton.serve.model_dir import INDEX, MANIFEST, SERVING, DirFile, DirIndex, ServingFile
from baton.store.artifacts import file_sha256
from baton.store.evaluations import EvaluationRecord
from baton.store.registry import VersionInfo
from baton.store.store import Store

MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


def canonical_json(data: Any) -> bytes:
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


def write_model_dir(
    store: Store, info: VersionInfo, evaluation: EvaluationRecord | None, dest: Path
) -> DirIndex:
    """Fill ``dest`` (an empty folder) with the version's model folder; its index back."""
    dest.mkdir(parents=True, exist_ok=True)
    files = [_copy(store, info.sha256, dest / MODEL_FILE, "model")]
    files.append(_write(dest / MANIFEST, _manifest_bytes(store, info), "manifest"))
    if evaluation is not None:
        serving = serving_file(evaluation)
        recommended = serving.recommended
        if recommended is not None and recommended.model_sha256 not in (None, info.sha256):
            files.append(_copy(store, str(recommended.model_sha256), dest / INT8_FILE, "derived"))
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
    (dest / INDEX).write_bytes(canonical_json(index.model_dump(mode="json")))
    return index


def _manifest_bytes(store: Store, info: VersionInfo) -> bytes:
    """The hand-over's own ``baton.yaml`` when it was stored, else the registered fields."""
    stored = next((f for f in info.files if f.role == "manifest"), None)
    if stored is not None:
        return store.artifacts.read_bytes(stored.sha256)
    text = yaml.safe_dump(info.manifest.to_json_dict(), sort_keys=False, allow_unicode=True)
    return text.encode()


def _copy(store: Store, sha256: str, target: Path, role: str) -> DirFile:
    source = store.artifacts.verified_path(sha256)
    shutil.copyfile(source, target)
    if file_sha256(target) != sha256:  # changed while copied: never ship it
        raise Corrupt(f"artifact {sha256[:12]} changed while being copied; render again")
    return DirFile.model_validate(
        {"role": role, "path": target.name, "sha256": sha256, "size_bytes": target.stat().st_size}
    )


def _write(target: Path, data: bytes, role: str) -> DirFile:
    target.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return DirFile.model_validate(
        {"role": role, "path": target.name, "sha256": sha, "size_bytes": len(data)}
    )

"""Read a hand-over from disk: the manifest and the files it names, all checked to exist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from baton.core.manifest import MANIFEST_FILE, Manifest, parse_manifest
from baton.errors import BadInput
from baton.yaml_files import yaml_problem


@dataclass(frozen=True)
class HandOver:
    manifest: Manifest
    manifest_path: Path
    model_path: Path
    eval_path: Path | None


def read_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise BadInput(
            f"{path} does not exist: write a {MANIFEST_FILE} next to the model "
            "(`baton schema manifest` prints its format)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadInput(f"{path.name} is not valid YAML{yaml_problem(exc)}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path.name} is not UTF-8 text: save it as UTF-8") from None
    return parse_manifest(data, source=path.name)


def read_handover(path: Path, manifest: Path | None = None) -> HandOver:
    """``path`` is a folder holding ``baton.yaml``, or a model file with ``manifest`` given
    (or a ``baton.yaml`` beside it)."""
    if not path.exists():
        raise BadInput(f"{path} does not exist: give a hand-over folder or a model file")
    if path.is_dir():
        manifest_path = manifest or path / MANIFEST_FILE
        parsed = read_manifest(manifest_path)
        model_path = (manifest_path.parent / parsed.model).resolve()
    else:
        manifest_path = manifest or path.parent / MANIFEST_FILE
        if not manifest_path.exists():
            raise BadInput(
                f"no manifest for {path.name}: pass --manifest baton.yaml "
                f"or put a {MANIFEST_FILE} beside it"
            )
        parsed = read_manifest(manifest_path)
        model_path = path.resolve()
    if not model_path.is_file():
        raise BadInput(
            f"model file {parsed.model!r} named in {manifest_path.name} is missing: "
            f"put it at {model_path} or fix the model field"
        )
    eval_path = None
    if parsed.eval is not None:
        eval_path = (manifest_path.parent / parsed.eval.data).resolve()
        if not eval_path.is_file():
            raise BadInput(
                f"eval data {parsed.eval.data!r} named in {manifest_path.name} is missing: "
                f"put it at {eval_path} or fix eval.data"
            )
    return HandOver(parsed, manifest_path.resolve(), model_path, eval_path)

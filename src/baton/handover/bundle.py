"""Read a hand-over from disk: the manifest and the files it names, all checked to exist.

The hand-over folder is the folder that holds ``baton.yaml``. Every path the manifest names
stays inside it (``confine.py``), and the manifest itself is bounded (``MANIFEST_LIMITS``,
raised by the ``BATON_MANIFEST_MAX_*`` settings). A model file or ``--manifest`` typed on the
command line is the operator's own choice and is taken where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from baton.core.manifest import MANIFEST_FILE, Manifest, parse_manifest
from baton.errors import BadInput
from baton.handover.confine import check_relative, inside
from baton.yaml_files import MANIFEST_LIMITS, YamlLimits, load_yaml, read_text, yaml_problem


@dataclass(frozen=True)
class HandOver:
    manifest: Manifest
    manifest_path: Path
    model_path: Path
    eval_path: Path | None


def manifest_from_text(text: str, source: str, limits: YamlLimits = MANIFEST_LIMITS) -> Manifest:
    """Parse and validate a manifest's text: a ``Manifest`` or BadInput, whatever the text."""
    try:
        data = load_yaml(text, source, limits)
    except yaml.YAMLError as exc:
        raise BadInput(f"{source} is not valid YAML{yaml_problem(exc)}") from None
    return parse_manifest(data, source=source)


def read_manifest(path: Path, limits: YamlLimits = MANIFEST_LIMITS) -> Manifest:
    if not path.is_file():
        raise BadInput(
            f"{path} does not exist: write a {MANIFEST_FILE} next to the model "
            "(`baton schema manifest` prints its format)"
        )
    return manifest_from_text(read_text(path, "manifest", "--manifest", limits), path.name, limits)


def read_handover(
    path: Path, manifest: Path | None = None, limits: YamlLimits = MANIFEST_LIMITS
) -> HandOver:
    """``path`` is a folder holding ``baton.yaml``, or a model file with ``manifest`` given
    (or a ``baton.yaml`` beside it). Paths in the manifest are relative to its folder."""
    if not path.exists():
        raise BadInput(f"{path} does not exist: give a hand-over folder or a model file")
    folder = path if path.is_dir() else path.parent
    if manifest is None:
        if not path.is_dir() and not (folder / MANIFEST_FILE).exists():
            raise BadInput(
                f"no manifest for {path.name}: pass --manifest baton.yaml "
                f"or put a {MANIFEST_FILE} beside it"
            )
        manifest = inside(folder, MANIFEST_FILE, "the manifest", str(folder))
    else:
        folder = manifest.parent
    parsed = read_manifest(manifest, limits)
    source = manifest.name
    if path.is_dir():
        model_path = _file(inside(folder, parsed.model, "model", source), parsed.model, source)
    else:
        check_relative(parsed.model, "model", source)  # kept as the stored file's name
        model_path = _file(path.resolve(), parsed.model, source)
    eval_path = None
    if parsed.eval is not None:
        real = inside(folder, parsed.eval.data, "eval.data", source)
        eval_path = _file(real, parsed.eval.data, source, "eval data", "eval.data")
    return HandOver(parsed, manifest.resolve(), model_path, eval_path)


def _file(
    real: Path, value: str, source: str, what: str = "model file", field: str = "the model field"
) -> Path:
    if not real.exists():
        raise BadInput(
            f"{what} {value!r} named in {source} is missing: put it at {real} or fix {field}"
        )
    if not real.is_file():
        raise BadInput(f"{what} {value!r} named in {source} is not a regular file ({real})")
    return real

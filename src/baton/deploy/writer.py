"""Write the rendered text files and the render's ``MANIFEST.json`` (every file's sha256)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from baton.deploy import compose, image, k8s, kserve, ray
from baton.deploy.bundle import canonical_json
from baton.deploy.spec import RenderSpec

FORMAT = "baton-deploy/1"
MANIFEST = "MANIFEST.json"


def texts(spec: RenderSpec, targets: tuple[str, ...], lock: str | None) -> dict[str, str]:
    """Every text file of the targets: ``{relative path: content}`` (pure); ``lock`` is
    the image's ``requirements.lock`` (``deploy/lock.py``), needed for that target only."""
    files: dict[str, str] = {}
    for target in sorted(set(targets)):
        if target == "k8s":
            files.update(k8s.render(spec))
        elif target == "kserve":
            files.update(kserve.render(spec))
        elif target == "compose":
            files.update(compose.render(spec))
        elif target == "ray":
            files.update(ray.render(spec))
        elif target == "image":
            if lock is None:
                raise ValueError("the image target needs its requirements.lock")
            files.update(image.render(spec, lock))
    return files


def render_files(
    spec: RenderSpec, targets: tuple[str, ...], root: Path, lock: str | None = None
) -> None:
    for rel, text in texts(spec, targets, lock).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_tree(
    root: Path, spec: RenderSpec, targets: tuple[str, ...], options: dict[str, object]
) -> tuple[str, dict[str, str]]:
    """Hash every file under ``root`` and write ``MANIFEST.json``; (its sha256, the listing)."""
    listing = {
        p.relative_to(root).as_posix(): _sha(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() != MANIFEST
    }
    document = {
        "format": FORMAT,
        "model": spec.model,
        "version": spec.version,
        "model_sha256": spec.digest,
        "precision": spec.precision,
        # the file the servers run: the model, or its int8 copy (derived from model_sha256)
        "served_sha256": spec.int8_sha256 or spec.digest,
        "evaluation": spec.evaluation,
        "baton_version": spec.baton_version,
        "revision": spec.revision,
        "targets": sorted(set(targets)),
        "options": options,
        "files": listing,
    }
    data = canonical_json(document)
    (root / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest(), listing

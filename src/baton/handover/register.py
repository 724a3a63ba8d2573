"""Register a hand-over: validate everything first, then store files, then one transaction."""

from __future__ import annotations

import contextlib
import logging
import stat
from pathlib import Path

from baton.core.signature import signature_mismatches
from baton.errors import BadInput
from baton.handover.bundle import HandOver, read_handover
from baton.handover.eval_check import check_eval_data
from baton.runtime.onnx_inspect import check_runtime_loads, load_checked, onnx_signature
from baton.runtime.torch_export import TORCH_SUFFIXES, export_to_onnx
from baton.store.artifacts import Progress, Stored, file_sha256, replaced_since
from baton.store.registry import FileRecord, Registered, refuse_changed_handover
from baton.store.store import Store
from baton.yaml_files import MANIFEST_LIMITS, YamlLimits


def check_model_file(handover: HandOver, onnx_path: Path) -> None:
    """The model must pass ``onnx.checker``, load in ONNX Runtime and match the signature."""
    model = load_checked(onnx_path)
    actual = onnx_signature(model)
    problems = signature_mismatches(handover.manifest.signature, actual)
    if problems:
        raise BadInput(
            f"signature in {handover.manifest_path.name} does not match "
            f"{handover.model_path.name}: "
            + "; ".join(problems)
            + ". Fix baton.yaml's signature to describe the model"
        )
    check_runtime_loads(onnx_path)


def register_handover(
    store: Store,
    path: Path,
    *,
    manifest: Path | None = None,
    actor: str,
    reason: str | None = None,
    progress: Progress | None = None,
    limits: YamlLimits = MANIFEST_LIMITS,
) -> Registered:
    """Check a hand-over and add it to the registry as the model's next version.

    Nothing is written unless every check passes; files stored for a record that then
    fails to commit are removed again (a kill leaves them to ``baton gc``). Model bytes
    already registered give that version back if the rest of the hand-over is the same, and
    are refused if it changed, storing nothing else either way.
    """
    handover = read_handover(path, manifest, limits)
    converted = handover.model_path.suffix.lower() in TORCH_SUFFIXES
    if not converted and handover.model_path.suffix.lower() != ".onnx":
        raise BadInput(
            f"{handover.model_path.name}: baton takes .onnx files, or PyTorch "
            f"TorchScript/torch.export archives ({', '.join(TORCH_SUFFIXES)})"
        )
    with contextlib.ExitStack() as scratch:
        onnx_path = handover.model_path
        if converted:
            onnx_path = scratch.enter_context(store.artifacts.scratch("handover-")) / "model.onnx"
            export_to_onnx(handover.model_path, handover.manifest.signature, onnx_path)
            onnx_path.chmod(stat.S_IMODE(handover.model_path.stat().st_mode))
        check_model_file(handover, onnx_path)
        check_eval_data(handover)
        store.registry.check_reachable()
        return _store_and_record(store, handover, onnx_path, actor, reason, progress)


def _sources(handover: HandOver, onnx_path: Path) -> list[tuple[str, Path, str]]:
    """(role, file, name kept in the record) for every file a version keeps; model first."""
    converted = onnx_path != handover.model_path
    sources = [
        ("model", onnx_path, "model.onnx" if converted else handover.manifest.model),
        ("manifest", handover.manifest_path, handover.manifest_path.name),
    ]
    if converted:
        sources.append(("source", handover.model_path, handover.model_path.name))
    if handover.eval_path is not None:
        sources.append(("eval_data", handover.eval_path, handover.eval_path.name))
    return sources


def _store_and_record(
    store: Store,
    handover: HandOver,
    onnx_path: Path,
    actor: str,
    reason: str | None,
    progress: Progress | None,
) -> Registered:
    (model, *others) = _sources(handover, onnx_path)
    stored: list[Stored] = []
    try:
        item = store.artifacts.put_file(model[1], progress, into=stored)
        records = [FileRecord(model[0], model[2], item.sha256, item.size)]
        existing = store.registry.version_with_model(handover.manifest.name, item.sha256)
        if existing is not None:  # hash the rest without storing: nothing new is kept
            hashed = [
                FileRecord(r, n, file_sha256(f, progress), f.stat().st_size) for r, f, n in others
            ]
            refuse_changed_handover(existing, handover.manifest, records + hashed)
            return Registered(existing, created=False)
        for role, file, name in others:
            item = store.artifacts.put_file(file, progress, into=stored)
            records.append(FileRecord(role, name, item.sha256, item.size))
        return store.registry.register(handover.manifest, records, actor, reason)
    except BaseException:
        _remove_unreferenced(store, [s for s in stored if s.created])
        raise


def _remove_unreferenced(store: Store, created: list[Stored]) -> None:
    """Remove the files this call created, unless a record names them or another put of the
    same bytes has replaced them since (that registration may be about to commit)."""
    if not created:
        return
    try:
        referenced = store.registry.referenced_digests()
    except Exception as exc:  # on the error path: never mask the error being raised
        # cannot tell what is referenced: keeping a file is safer than losing one
        logging.getLogger("baton.handover").warning(
            "could not check which stored files a record names (%s: %s): keeping the %d "
            "this registration stored (`baton gc` removes them once unreferenced)",
            type(exc).__name__,
            exc,
            len(created),
        )
        return
    for item in created:
        if item.sha256 not in referenced:
            store.artifacts.discard(item.sha256, replaced_since(item))


def total_bytes(
    path: Path, manifest: Path | None = None, limits: YamlLimits = MANIFEST_LIMITS
) -> int:
    """Bytes that registration will hash, for a progress bar."""
    handover = read_handover(path, manifest, limits)
    files = [handover.model_path, handover.manifest_path]
    if handover.eval_path:
        files.append(handover.eval_path)
    return sum(f.stat().st_size for f in files)

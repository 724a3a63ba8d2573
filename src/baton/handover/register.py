"""Register a hand-over: validate everything first, then store files, then one transaction."""

from __future__ import annotations

import tempfile
from pathlib import Path

from baton.core.signature import signature_mismatches
from baton.errors import BadInput
from baton.handover.bundle import HandOver, read_handover
from baton.runtime.onnx_inspect import check_runtime_loads, load_checked, onnx_signature
from baton.runtime.torch_export import TORCH_SUFFIXES, export_to_onnx
from baton.store.artifacts import Progress, Stored
from baton.store.registry import FileRecord, Registered
from baton.store.store import Store


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
) -> Registered:
    """Check a hand-over and add it to the registry as the model's next version.

    Nothing is written unless every check passes; files stored for a record that then
    fails to commit are removed again.
    """
    handover = read_handover(path, manifest)
    with tempfile.TemporaryDirectory(prefix="baton-handover-") as tmp:
        onnx_path = handover.model_path
        converted = handover.model_path.suffix.lower() in TORCH_SUFFIXES
        if converted:
            onnx_path = Path(tmp) / "model.onnx"
            export_to_onnx(handover.model_path, handover.manifest.signature, onnx_path)
        elif handover.model_path.suffix.lower() != ".onnx":
            raise BadInput(
                f"{handover.model_path.name}: baton takes .onnx files, or PyTorch "
                f"TorchScript/torch.export archives ({', '.join(TORCH_SUFFIXES)})"
            )
        check_model_file(handover, onnx_path)
        store.registry.check_reachable()

        sources: list[tuple[str, Path, str]] = [
            ("model", onnx_path, handover.manifest.model if not converted else "model.onnx"),
            ("manifest", handover.manifest_path, handover.manifest_path.name),
        ]
        if converted:
            sources.append(("source", handover.model_path, handover.model_path.name))
        if handover.eval_path is not None:
            sources.append(("eval_data", handover.eval_path, handover.eval_path.name))

        stored: list[Stored] = []
        try:
            records = []
            for role, file, name in sources:
                item = store.artifacts.put_file(file, progress)
                stored.append(item)
                records.append(FileRecord(role, name, item.sha256, item.size))
            return store.registry.register(handover.manifest, records, actor, reason)
        except BaseException:
            _remove_unreferenced(store, [s for s in stored if s.created])
            raise


def _remove_unreferenced(store: Store, created: list[Stored]) -> None:
    if not created:
        return
    try:
        referenced = store.registry.referenced_digests()
    except Exception:
        return  # cannot tell what is referenced: keeping a file is safer than losing one
    for item in created:
        if item.sha256 not in referenced:
            store.artifacts.remove(item.sha256)


def total_bytes(path: Path, manifest: Path | None = None) -> int:
    """Bytes that registration will hash, for a progress bar."""
    handover = read_handover(path, manifest)
    files = [handover.model_path, handover.manifest_path]
    if handover.eval_path:
        files.append(handover.eval_path)
    return sum(f.stat().st_size for f in files)

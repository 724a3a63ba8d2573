"""Export PyTorch hand-overs (TorchScript or ``torch.export`` archives) to ONNX.

Only formats that load without unpickling arbitrary Python objects are accepted: a plain
``torch.save(model)`` file is refused, since loading it would run code from the file.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

from baton.core.signature import DType, Signature
from baton.errors import BadInput

TORCH_SUFFIXES = (".pt", ".pth", ".pt2", ".ts")
_INSTALL = "install the torch extra (pip install 'modelbaton[torch]') or export to ONNX yourself"
_RESAVE = (
    "save it with torch.jit.save(torch.jit.script(model), 'model.pt') or "
    "torch.export.save(torch.export.export(model, args), 'model.pt2')"
)


def archive_kind(path: Path) -> str:
    """``torchscript`` or ``exported``; anything else is refused before torch sees it."""
    if not zipfile.is_zipfile(path):
        raise BadInput(f"{path.name} is not a TorchScript or torch.export archive: {_RESAVE}")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any("/models/" in n and n.endswith(".json") for n in names) or any(
        n.endswith("archive_format") for n in names
    ):
        return "exported"
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    raise BadInput(
        f"{path.name} is a pickled Python object (torch.save of a whole model), which baton "
        f"never loads because unpickling runs code: {_RESAVE}"
    )


def _example_inputs(signature: Signature) -> tuple[Any, ...]:
    import torch

    out = []
    for spec in signature.inputs:
        if spec.dtype is DType.STRING:
            raise BadInput(f"input {spec.name!r} is a string tensor, which PyTorch cannot export")
        shape = [2 if d == -1 else d for d in spec.shape]
        out.append(torch.zeros(shape, dtype=getattr(torch, spec.dtype.value)))
    return tuple(out)


def export_to_onnx(path: Path, signature: Signature, out: Path) -> None:
    """Export ``path`` to ``out`` (ONNX), with the signature's names and dynamic dimensions."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise BadInput(f"{path.name} is a PyTorch model: {_INSTALL}") from None
    kind = archive_kind(path)
    args = _example_inputs(signature)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # exporter chatter; failures still raise
            if kind == "torchscript":
                _export_torchscript(path, signature, args, out)
            else:
                _export_program(path, signature, args, out)
    except BadInput:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(
            f"exporting {path.name} to ONNX failed ({first}): export it to ONNX yourself "
            "with torch.onnx.export and hand over the .onnx file"
        ) from None


def _export_torchscript(path: Path, signature: Signature, args: tuple[Any, ...], out: Path) -> None:
    import torch

    module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    module.eval()
    dynamic_axes = {
        s.name: {i: f"{s.name}_d{i}" for i, d in enumerate(s.shape) if d == -1}
        for s in (*signature.inputs, *signature.outputs)
    }
    torch.onnx.export(
        module,
        args,
        str(out),
        input_names=[s.name for s in signature.inputs],
        output_names=[s.name for s in signature.outputs],
        dynamic_axes=dynamic_axes,
        dynamo=False,
        external_data=False,
    )


def _export_program(path: Path, signature: Signature, args: tuple[Any, ...], out: Path) -> None:
    import torch

    program = torch.export.load(str(path)).run_decompositions()
    onnx_program = torch.onnx.export(
        program,
        args,
        input_names=[s.name for s in signature.inputs],
        output_names=[s.name for s in signature.outputs],
        dynamo=True,
        external_data=False,
    )
    if onnx_program is None:
        raise RuntimeError("the exporter returned no program")
    onnx_program.save(str(out), external_data=False)

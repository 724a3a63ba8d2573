"""PyTorch hand-overs: TorchScript and torch.export archives become ONNX; pickles are refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from baton.core.signature import Signature
from baton.errors import BadInput
from baton.runtime.onnx_inspect import onnx_signature
from baton.runtime.torch_export import archive_kind, export_to_onnx

torch = pytest.importorskip("torch", reason="needs the torch extra (make test installs it)")

SIG = Signature.model_validate(
    {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 4]}],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 3]}],
    }
)


class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
        return torch.softmax(self.layer(x), dim=-1)


def check_exported(out: Path, net: Net) -> None:
    model = onnx.load(str(out))
    sig = onnx_signature(model)
    assert sig.inputs[0].name == "input" and sig.inputs[0].shape == (-1, 4)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_torchscript_is_exported(tmp_path: Path) -> None:
    net = Net().eval()
    src = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(net), str(src))
    assert archive_kind(src) == "torchscript"
    export_to_onnx(src, SIG, tmp_path / "model.onnx")
    check_exported(tmp_path / "model.onnx", net)


def test_torch_export_archive_is_exported(tmp_path: Path) -> None:
    net = Net().eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(net, (torch.zeros(2, 4),), dynamic_shapes={"x": {0: batch}})
    src = tmp_path / "model.pt2"
    torch.export.save(program, str(src))
    assert archive_kind(src) == "exported"
    export_to_onnx(src, SIG, tmp_path / "model.onnx")
    check_exported(tmp_path / "model.onnx", net)


def test_a_pickled_module_is_never_loaded(tmp_path: Path) -> None:
    src = tmp_path / "model.pt"
    torch.save(Net(), str(src))
    with pytest.raises(BadInput, match="pickled Python object.*never loads"):
        export_to_onnx(src, SIG, tmp_path / "model.onnx")


def test_not_an_archive(tmp_path: Path) -> None:
    src = tmp_path / "model.pt"
    src.write_bytes(b"\x80\x04 a raw pickle stream")
    with pytest.raises(BadInput, match="not a TorchScript or torch.export archive"):
        archive_kind(src)


def test_zip_without_code_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "model.pt"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("model/data.pkl", b"\x80\x04.")
    with pytest.raises(BadInput, match="pickled Python object"):
        archive_kind(src)

"""The one ``baton serve`` every rendered server runs, built in one place.

The container targets (image, compose, k8s, kserve) put it on a command line; the Ray
application gets the same choices as its ``args`` and turns them back into the server's
options on each replica. So the model folder, the precision and the gRPC port mean the
same on every platform, and a new flag is added here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from baton.deploy.spec import MODEL_PATH, PORT, RenderSpec

if TYPE_CHECKING:
    from baton.serve.options import ServeOptions

Precision = Literal["fp32", "int8"]


@dataclass(frozen=True)
class ServeCommand:
    """What a rendered server serves and how: its model folder, precision and gRPC port."""

    model_dir: str = MODEL_PATH
    precision: Precision = "fp32"
    grpc_port: int | None = None

    def args(self) -> list[str]:
        """``baton``'s arguments in a container: all addresses, the HTTP port, the rest.

        fp32 is the server's own default (the registered model), so only int8 is said.
        """
        out = ["serve", "--model-dir", self.model_dir, "--host", "0.0.0.0", "--port", str(PORT)]
        if self.precision == "int8":
            out += ["--precision", "int8"]
        if self.grpc_port is not None:
            out += ["--grpc-port", str(self.grpc_port)]
        return out

    def ray_args(self) -> dict[str, object]:
        """The Ray application's ``args`` (Ray's proxy owns the address and the port)."""
        out: dict[str, object] = {"model_dir": self.model_dir}
        if self.precision == "int8":
            out["precision"] = "int8"
        return out

    def options(self, ref: str) -> ServeOptions:
        """The server's options for the version ``ref`` the folder holds (a Ray replica,
        behind Ray's HTTP proxy: no gRPC port of its own)."""
        from baton.serve.options import ServeOptions

        precision = "int8" if self.precision == "int8" else None
        return ServeOptions(refs=(ref,), model_dir=self.model_dir, precision=precision)


def serve_command(spec: RenderSpec, model_dir: str = MODEL_PATH) -> ServeCommand:
    return ServeCommand(model_dir=model_dir, precision=spec.precision, grpc_port=spec.grpc_port)

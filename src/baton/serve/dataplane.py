"""The inference service: health, metadata and infer, knowing nothing of HTTP.

Every request is checked against the model's signature before it is queued, so a batch
holds only requests the model can take, and a client's mistake comes back as one
``BadInput`` line naming the tensor and the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baton import __version__
from baton.core.signature import TensorSpec
from baton.errors import BadInput
from baton.serve.loader import LoadedModel
from baton.serve.protocol import InferRequest, InferResponse, OutputTensor
from baton.serve.repository import ModelRepository

EXTENSIONS = ("binary_tensor_data", "model_repository")


def tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.dtype.v2, "shape": list(spec.shape)}


class DataPlane:
    """What the V2 routes do; the HTTP layer only translates to and from it."""

    def __init__(self, repository: ModelRepository, *, allow_nonfinite: bool = False) -> None:
        self.repository = repository
        self.allow_nonfinite = allow_nonfinite

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return self.repository.ready

    def server_metadata(self) -> dict[str, Any]:
        return {"name": "baton", "version": __version__, "extensions": list(EXTENSIONS)}

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        model = self.repository.get(name, version)
        return {
            "name": model.name,
            "versions": [model.version],
            "platform": "onnxruntime_onnx",
            "inputs": [tensor_metadata(s) for s in model.signature.inputs],
            "outputs": [tensor_metadata(s) for s in model.signature.outputs],
            "parameters": {
                "owner": model.info.owner,
                "alias": model.alias,
                # what runs, and where each setting came from (flag, evaluation, default)
                **model.plan.parameters(),
                "max_batch_size": model.batcher.max_batch_size,
                "model_sha256": model.config.model_sha256 or model.info.sha256,
            },
        }

    def model_ready(self, name: str, version: str | None = None) -> bool:
        self.repository.get(name, version)
        return True

    def repository_index(self) -> list[dict[str, Any]]:
        return [
            {"name": m.name, "version": m.version, "state": "READY", "reason": ""}
            for m in self.repository.models()
        ]

    async def infer(
        self, name: str, version: str | None, request: InferRequest
    ) -> tuple[InferResponse, LoadedModel]:
        model = self.repository.get(name, version)
        feed, rows = self.check_inputs(model, request)
        wanted = self._outputs(model, request)
        done = await model.batcher.submit(feed, rows)
        model.series.queue_duration.observe(done.queue_s)
        outputs = tuple(
            OutputTensor(out_name, done.outputs[out_name], binary) for out_name, binary in wanted
        )
        response = InferResponse(model.name, model.version, outputs, id=request.id)
        return response, model

    def check_inputs(
        self, model: LoadedModel, request: InferRequest
    ) -> tuple[dict[str, np.ndarray[Any, Any]], int]:
        """The feed for ONNX Runtime, and the request's rows; BadInput on any mismatch."""
        signature = model.signature
        feed: dict[str, np.ndarray[Any, Any]] = {}
        rows: int | None = None
        for tensor in request.inputs:
            spec = signature.input(tensor.name)
            if tensor.datatype != spec.dtype.v2:
                raise BadInput(
                    f"input {tensor.name!r} is {tensor.datatype} but {model.info.ref} takes "
                    f"{spec.dtype.v2}: send datatype {spec.dtype.v2}"
                )
            shape = tensor.shape
            if len(shape) != len(spec.shape) or any(
                d != -1 and d != s for d, s in zip(spec.shape, shape, strict=True)
            ):
                raise BadInput(
                    f"input {tensor.name!r} has shape {list(shape)} but {model.info.ref} takes "
                    f"{list(spec.shape)} (-1: any size)"
                )
            if model.batchable:
                if rows is not None and shape[0] != rows:
                    raise BadInput(
                        f"inputs disagree on the batch size ({rows} and {shape[0]} rows): "
                        "send the same number of rows in every input"
                    )
                rows = shape[0]
            data = tensor.data
            if not self.allow_nonfinite and data.dtype.kind == "f" and not np.isfinite(data).all():
                index = int(np.flatnonzero(~np.isfinite(data.ravel()))[0])
                raise BadInput(
                    f"input {tensor.name!r} holds NaN or Infinity (first at flat index "
                    f"{index}): send finite numbers"
                )
            feed[tensor.name] = data
        missing = [s.name for s in signature.inputs if s.name not in feed]
        if missing:
            raise BadInput(
                f"missing input(s) {', '.join(map(repr, missing))}: {model.info.ref} takes "
                + ", ".join(s.describe() for s in signature.inputs)
            )
        if rows == 0:
            raise BadInput("the request has 0 rows: send at least one")
        return feed, rows if rows is not None else 1

    def _outputs(self, model: LoadedModel, request: InferRequest) -> list[tuple[str, bool]]:
        default = request.binary_output
        if not request.outputs:
            return [(s.name, default) for s in model.signature.outputs]
        wanted = []
        for out in request.outputs:
            spec = model.signature.output(out.name)
            wanted.append((spec.name, default if out.binary is None else out.binary))
        return wanted

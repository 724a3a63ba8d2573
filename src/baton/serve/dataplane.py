"""The inference service: health, metadata and infer, knowing nothing of HTTP.

Every request is checked against the model's signature before it is queued, so a batch
holds only requests the model can take, and a client's mistake comes back as one
``BadInput`` line naming the tensor and the fix.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

import numpy as np

from baton import __version__
from baton.core.signature import TensorSpec
from baton.errors import BadInput, Corrupt
from baton.serve.loader import LoadedModel
from baton.serve.options import ServeOptions
from baton.serve.protocol import InferRequest, InferResponse, OutputTensor
from baton.serve.repository import ModelRepository

EXTENSIONS = ("binary_tensor_data", "model_repository", "model_configuration", "statistics")


class ServerMetadata(TypedDict):
    """The V2 server metadata (JSON, and the gRPC message's fields)."""

    name: str
    version: str
    extensions: list[str]


def tensor_metadata(spec: TensorSpec) -> dict[str, object]:
    return {"name": spec.name, "datatype": spec.dtype.v2, "shape": list(spec.shape)}


def triton_dims(spec: TensorSpec, batched: bool) -> list[int]:
    """Triton leaves the batch dimension out of ``dims`` when the model batches."""
    return list(spec.shape[1:] if batched else spec.shape)


def triton_config(model: LoadedModel, options: ServeOptions) -> dict[str, object]:
    """The configuration Triton's clients read first, from the signature and the plan."""
    batched = model.batchable
    config: dict[str, object] = {
        "name": model.name,
        "platform": "onnxruntime_onnx",
        "backend": "onnxruntime",
        "version_policy": {"specific": {"versions": [int(model.version)]}},
        "max_batch_size": model.batcher.max_batch_size if batched else 0,
        "input": [
            {
                "name": s.name,
                "data_type": f"TYPE_{TRITON_TYPES.get(s.dtype.v2, s.dtype.v2)}",
                "format": "FORMAT_NONE",
                "dims": triton_dims(s, batched),
            }
            for s in model.signature.inputs
        ],
        "output": [
            {
                "name": s.name,
                "data_type": f"TYPE_{TRITON_TYPES.get(s.dtype.v2, s.dtype.v2)}",
                "dims": triton_dims(s, batched),
            }
            for s in model.signature.outputs
        ],
        # one model instance (session and batch thread) per worker process
        "instance_group": [{"name": model.name, "kind": _kind(model), "count": options.workers}],
        "parameters": {
            key: {"string_value": str(value)} for key, value in model.plan.parameters().items()
        },
    }
    if batched:
        config["dynamic_batching"] = {
            "max_queue_delay_microseconds": round(model.config.max_queue_delay_ms * 1000),
            "default_queue_policy": {"max_queue_size": model.batcher.max_queue},
        }
    return config


TRITON_TYPES = {"BYTES": "STRING"}  # V2 datatype -> Triton's DataType name, where they differ


def _kind(model: LoadedModel) -> str:
    return "KIND_CPU" if model.config.provider == "CPUExecutionProvider" else "KIND_GPU"


class DataPlane:
    """What the V2 routes do; the HTTP layer only translates to and from it."""

    def __init__(self, repository: ModelRepository, *, allow_nonfinite: bool = False) -> None:
        self.repository = repository
        self.allow_nonfinite = allow_nonfinite

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return self.repository.ready

    def server_metadata(self) -> ServerMetadata:
        return {"name": "baton", "version": __version__, "extensions": list(EXTENSIONS)}

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, object]:
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

    def repository_index(self) -> list[dict[str, object]]:
        return [
            {"name": m.name, "version": m.version, "state": "READY", "reason": ""}
            for m in self.repository.models()
        ]

    def model_config(self, name: str, version: str | None = None) -> dict[str, object]:
        """Triton's model configuration (JSON form), derived from what this server runs."""
        return triton_config(self.repository.get(name, version), self.repository.options)

    def statistics(self, name: str | None = None, version: str | None = None) -> dict[str, object]:
        """Triton's statistics extension: every served version, one model, or one version."""
        if name is None:
            models = self.repository.models()
        elif version is None:
            models = self.repository.versions(name)
        else:
            models = [self.repository.get(name, version)]
        return {"model_stats": [m.stats.report(m.name, m.version) for m in models]}

    async def infer(
        self, name: str, version: str | None, request: InferRequest
    ) -> tuple[InferResponse, LoadedModel]:
        """Run one request; the transport reports its end with ``model.stats.finished``."""
        arrived = time.perf_counter()
        model = self.repository.get(name, version)
        feed, rows = self.check_inputs(model, request)
        wanted = self._outputs(model, request)
        future = model.batcher.submit(feed, rows)
        queued = time.perf_counter()
        done = await future
        model.series.queue_duration.observe(done.queue_s)
        check_outputs(model, done.outputs, rows)
        outputs = tuple(
            OutputTensor(out_name, done.outputs[out_name], binary) for out_name, binary in wanted
        )
        response = InferResponse(model.name, model.version, outputs, id=request.id)
        model.stats.computed(arrived, queued, done.queue_s, done.compute_s, time.perf_counter())
        return response, model

    def check_inputs(
        self, model: LoadedModel, request: InferRequest
    ) -> tuple[dict[str, np.ndarray[Any, Any]], int]:
        """The feed for ONNX Runtime, and the request's rows; BadInput on any mismatch."""
        signature = model.signature
        feed: dict[str, np.ndarray[Any, Any]] = {}
        rows: int | None = None
        checked = model.checked
        for tensor in request.inputs:
            shape = tensor.shape
            key = ("in", tensor.name, tensor.datatype, shape)
            if key not in checked:  # the signature's checks, once per name, type and shape
                _check_input(model, tensor.name, tensor.datatype, shape)
                _remember(checked, key)
            if model.batchable:
                if rows is not None and shape[0] != rows:
                    raise BadInput(
                        f"inputs disagree on the batch size ({rows} and {shape[0]} rows): "
                        "send the same number of rows in every input"
                    )
                rows = shape[0]
            data = tensor.data
            # the ufunc's reduce, not ndarray.all: that goes through a Python-level wrapper
            if (
                not self.allow_nonfinite
                and data.dtype.kind == "f"
                and not np.logical_and.reduce(np.isfinite(data), axis=None)
            ):
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


CHECKED = 256  # shapes remembered per version before the memory starts afresh


def _remember(checked: set[tuple[object, ...]], key: tuple[object, ...]) -> None:
    if len(checked) >= CHECKED:  # shapes come from clients: bounded
        checked.clear()
    checked.add(key)


def _check_input(model: LoadedModel, name: str, datatype: str, shape: tuple[int, ...]) -> None:
    """One input's name, datatype and shape against the signature (BadInput naming the fix)."""
    spec = model.signature.input(name)
    if datatype != spec.dtype.v2:
        raise BadInput(
            f"input {name!r} is {datatype} but {model.info.ref} takes "
            f"{spec.dtype.v2}: send datatype {spec.dtype.v2}"
        )
    if len(shape) != len(spec.shape) or any(
        d != -1 and d != s for d, s in zip(spec.shape, shape, strict=True)
    ):
        raise BadInput(
            f"input {name!r} has shape {list(shape)} but {model.info.ref} takes "
            f"{list(spec.shape)} (-1: any size)"
        )


class BrokenOutput(Corrupt):
    """The model answered outside its own signature: the server's fault, never passed on."""


def check_outputs(model: LoadedModel, outputs: dict[str, Any], rows: int) -> None:
    """Every output as the signature says: its rank, its fixed dimensions, and (a batched
    model) one row per input row. A model that breaks its contract for some inputs gets a
    500 for those requests, not a 200 with an answer its clients cannot read."""
    checked = model.checked
    for spec in model.signature.outputs:
        array = outputs.get(spec.name)
        if array is None:
            continue  # not computed for this request (only the asked outputs are checked)
        shape = tuple(np.shape(array))
        key = ("out", spec.name, shape, rows)
        if key in checked:
            continue
        fixed = all(want in (-1, have) for want, have in zip(spec.shape, shape, strict=False))
        batched = not model.batchable or not shape or spec.shape[0] != -1 or shape[0] == rows
        if len(shape) != len(spec.shape) or not fixed or not batched:
            raise BrokenOutput(
                f"{model.info.ref} answered {spec.name} with shape {list(shape)}, not "
                f"{list(spec.shape)} as its signature says ({rows} row(s) asked): the model "
                "broke its contract for this request"
            )
        _remember(checked, key)

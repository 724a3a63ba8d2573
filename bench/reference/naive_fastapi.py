"""The floor anyone can write in ten minutes: FastAPI, a pydantic body, one ONNX Runtime call
per request. ``bench/serve.py`` serves it with uvicorn as the reference for ``baton serve``.

BENCH_MODEL names the .onnx file; BENCH_ASYNC=1 makes the endpoint ``async def`` (runs on
the event loop), otherwise it is a plain ``def`` (FastAPI runs it on its thread pool).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(
    os.environ["BENCH_MODEL"], options, providers=["CPUExecutionProvider"]
)
input_name = session.get_inputs()[0].name

app = FastAPI()


class Tensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[float]


class InferRequest(BaseModel):
    inputs: list[Tensor]


def predict(name: str, request: InferRequest) -> dict[str, Any]:
    tensor = request.inputs[0]
    x = np.asarray(tensor.data, dtype=np.float32).reshape(tensor.shape)
    y = session.run(None, {input_name: x})[0]
    return {
        "model_name": name,
        "outputs": [
            {
                "name": "probabilities",
                "datatype": "FP32",
                "shape": list(y.shape),
                "data": y.ravel().tolist(),
            }
        ],
    }


if os.environ.get("BENCH_ASYNC") == "1":

    @app.post("/v2/models/{name}/infer")
    async def infer_async(name: str, request: InferRequest) -> dict[str, Any]:
        return predict(name, request)

else:

    @app.post("/v2/models/{name}/infer")
    def infer(name: str, request: InferRequest) -> dict[str, Any]:
        return predict(name, request)

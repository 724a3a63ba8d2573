"""A ready-to-paste ``curl`` request for a served model (what quickstart prints)."""

from __future__ import annotations

import shlex
from typing import Any

import numpy as np
import orjson

from baton.core.signature import TensorSpec


def infer_body(spec: TensorSpec, row: np.ndarray[Any, Any]) -> dict[str, object]:
    """A one-row V2 request for the model's input ``spec``."""
    values = row.ravel()
    data: list[Any] = [v.item() for v in values]
    if values.dtype.kind == "f":
        data = [round(float(v), 6) for v in values]
    return {
        "inputs": [
            {
                "name": spec.name,
                "datatype": spec.dtype.v2,
                "shape": [1, *values.shape],
                "data": data,
            }
        ]
    }


def curl_command(base_url: str, model: str, spec: TensorSpec, row: np.ndarray[Any, Any]) -> str:
    body = orjson.dumps(infer_body(spec, row)).decode()
    url = f"{base_url}/v2/models/{model}/infer"
    return f"curl -s -H 'Content-Type: application/json' -d {shlex.quote(body)} {url}"

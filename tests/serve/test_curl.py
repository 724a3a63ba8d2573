"""The curl command quickstart prints is valid shell and a valid V2 request."""

from __future__ import annotations

import shlex

import numpy as np
import orjson

from baton.core.signature import DType, TensorSpec
from baton.serve.codec import decode_request
from baton.serve.curl import curl_command


def test_curl_command_carries_a_decodable_request() -> None:
    spec = TensorSpec(name="input", dtype=DType.FLOAT32, shape=(-1, 3))
    cmd = curl_command("http://127.0.0.1:8000", "digits", spec, np.array([0.5, 1.0, 2.25]))
    words = shlex.split(cmd)
    assert words[0] == "curl"
    assert words[-1] == "http://127.0.0.1:8000/v2/models/digits/infer"
    body = words[words.index("-d") + 1].encode()
    (tensor,) = decode_request(body).inputs
    assert tensor.shape == (1, 3)
    assert tensor.data.tolist() == [[0.5, 1.0, 2.25]]
    assert orjson.loads(body)["inputs"][0]["datatype"] == "FP32"

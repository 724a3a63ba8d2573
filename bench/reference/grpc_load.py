"""A V2 gRPC load generator: N concurrent ``ModelInfer`` calls on one HTTP/2 channel
(grpc.aio), each a single row sent as raw contents, for a fixed time. Prints one JSON line:
req/s, p50 and p99 in ms, failed calls, and the CPU seconds this process used (when they
approach the wall time, the figure is this client's ceiling, not the server's).

``ghz`` (the usual Go tool) is neither a Debian nor a PyPI package, so the benchmark uses
this instead; pinned to its own core as ``wrk`` is for REST. Its limit: Python and the
gRPC C core cost it tens of µs a call, more than ``wrk`` pays a request.

    python bench/reference/grpc_load.py HOST:PORT MODEL CONCURRENCY SECONDS
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import grpc
import numpy as np

from baton.serve.proto import grpc_v2_pb2 as pb

METHOD = "/inference.GRPCInferenceService/ModelInfer"


def request(model: str) -> pb.ModelInferRequest:
    row = np.random.default_rng(0).random((1, 64), dtype=np.float32)
    message = pb.ModelInferRequest(model_name=model, raw_input_contents=[row.tobytes()])
    tensor = message.inputs.add()
    tensor.name, tensor.datatype = "input", "FP32"
    tensor.shape.extend([1, 64])
    return message


async def run(target: str, model: str, concurrency: int, seconds: float) -> dict[str, float]:
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(
            METHOD,
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        message = request(model)
        latencies: list[float] = []
        errors = 0

        async def loop(until: float, keep: bool) -> None:
            nonlocal errors
            while (started := time.perf_counter()) < until:
                try:
                    await call(message, timeout=30)
                except grpc.aio.AioRpcError:
                    errors += keep
                    continue
                if keep:
                    latencies.append(time.perf_counter() - started)

        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(loop(warm, False) for _ in range(concurrency)))
        cpu_before = _cpu()
        begin = time.perf_counter()
        await asyncio.gather(*(loop(begin + seconds, True) for _ in range(concurrency)))
        wall = time.perf_counter() - begin
    done = np.asarray(latencies) * 1e3
    return {
        "rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(done, 50)) if len(done) else 0.0,
        "p99_ms": float(np.percentile(done, 99)) if len(done) else 0.0,
        "errors": errors,
        "cpu_share": (_cpu() - cpu_before) / wall,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    target, model, concurrency, seconds = sys.argv[1:5]
    print(json.dumps(asyncio.run(run(target, model, int(concurrency), float(seconds)))))

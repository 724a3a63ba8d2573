"""Per-version inference statistics, in the shape of Triton's statistics extension.

``tritonclient``'s ``get_inference_statistics`` (and Triton's tools) read these. They
come from what the server measures anyway (the batcher's queue and compute times), kept
as plain integers bumped on the event loop: a few additions per request, no locks, no
label lookups. Each worker process counts its own requests; the Prometheus metrics are
the server-wide view.

What each duration covers (all in nanoseconds, summed over requests):
- ``compute_input``: checking the request against the signature and queueing it;
- ``queue``: waiting in the model's queue until its batch starts;
- ``compute_infer``: the batched model call the request was part of;
- ``compute_output``: from that call's end until the response tensors are ready;
- ``success`` / ``fail``: the whole request as the transport saw it (decode to encode).
Per batch size only the model call is timed (merging and splitting rows are part of it).
"""

from __future__ import annotations

import time
from typing import Any

_NS = 1_000_000_000


def _duration(count: int, ns: int) -> dict[str, int]:
    return {"count": count, "ns": ns}


class ModelStats:
    """Counters for one served version (one per worker process)."""

    __slots__ = (
        "_batches",
        "computed_count",
        "execution_count",
        "fail_count",
        "fail_ns",
        "infer_ns",
        "inference_count",
        "input_ns",
        "last_inference_ms",
        "output_ns",
        "queue_ns",
        "success_count",
        "success_ns",
    )

    def __init__(self) -> None:
        self.success_count = self.success_ns = 0
        self.fail_count = self.fail_ns = 0
        self.computed_count = 0
        self.input_ns = self.queue_ns = self.infer_ns = self.output_ns = 0
        self.inference_count = self.execution_count = 0
        self.last_inference_ms = 0
        # batch size -> [executions, compute ns]
        self._batches: dict[int, list[int]] = {}

    def computed(self, input_s: float, queue_s: float, infer_s: float, output_s: float) -> None:
        """A request's share of the work, once its outputs are back (data plane)."""
        self.computed_count += 1
        self.input_ns += int(input_s * _NS)
        self.queue_ns += int(queue_s * _NS)
        self.infer_ns += int(infer_s * _NS)
        self.output_ns += int(max(output_s, 0.0) * _NS)

    def finished(self, ok: bool, total_s: float) -> None:
        """A request answered (transport): its whole time, as success or failure."""
        if ok:
            self.success_count += 1
            self.success_ns += int(total_s * _NS)
            self.last_inference_ms = int(time.time() * 1000)
        else:
            self.fail_count += 1
            self.fail_ns += int(total_s * _NS)

    def batch(self, rows: int, compute_s: float) -> None:
        """One model call of ``rows`` rows (the batcher's hook)."""
        self.execution_count += 1
        self.inference_count += rows
        entry = self._batches.get(rows)
        if entry is None:
            self._batches[rows] = [1, int(compute_s * _NS)]
        else:
            entry[0] += 1
            entry[1] += int(compute_s * _NS)

    def report(self, name: str, version: str) -> dict[str, Any]:
        """One ``model_stats`` entry as Triton writes it (JSON; the gRPC message's fields)."""
        computed = self.computed_count
        zero = _duration(0, 0)
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {
                "success": _duration(self.success_count, self.success_ns),
                "fail": _duration(self.fail_count, self.fail_ns),
                "queue": _duration(computed, self.queue_ns),
                "compute_input": _duration(computed, self.input_ns),
                "compute_infer": _duration(computed, self.infer_ns),
                "compute_output": _duration(computed, self.output_ns),
                "cache_hit": zero,
                "cache_miss": zero,
            },
            "batch_stats": [
                {"batch_size": rows, "compute_infer": _duration(count, ns)}
                for rows, (count, ns) in sorted(self._batches.items())
            ],
        }

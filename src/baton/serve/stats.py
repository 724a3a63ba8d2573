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

_NS = 1_000_000_000


def _duration(count: int, seconds: float) -> dict[str, int]:
    return {"count": count, "ns": max(0, round(seconds * _NS))}


class ModelStats:
    """Counters for one served version (one per worker process). Durations add up as
    float seconds (cheapest on the hot path) and become integer nanoseconds when read."""

    __slots__ = (
        "_batches",
        "_last",
        "computed_count",
        "execution_count",
        "fail_count",
        "fail_s",
        "infer_s",
        "inference_count",
        "input_s",
        "output_s",
        "queue_s",
        "success_count",
        "success_s",
    )

    def __init__(self) -> None:
        self.success_count = self.fail_count = self.computed_count = 0
        self.success_s = self.fail_s = 0.0
        self.input_s = self.queue_s = self.infer_s = self.output_s = 0.0
        self.inference_count = self.execution_count = 0
        self._last: float | None = None  # perf_counter() of the latest computed request
        # batch size -> [executions, compute seconds]
        self._batches: dict[int, list[float]] = {}

    def computed(
        self, arrived: float, queued: float, queue_s: float, infer_s: float, now: float
    ) -> None:
        """A request's share of the work once its outputs are back (data plane; times from
        ``time.perf_counter``): arrived, queued and now, and its batch's queue and call."""
        self.computed_count += 1
        self.input_s += queued - arrived
        self.queue_s += queue_s
        self.infer_s += infer_s
        self.output_s += now - queued - queue_s - infer_s
        self._last = now

    def finished(self, ok: bool, total_s: float) -> None:
        """A request answered (transport): its whole time, as success or failure."""
        if ok:
            self.success_count += 1
            self.success_s += total_s
        else:
            self.fail_count += 1
            self.fail_s += total_s

    def batch(self, rows: int, compute_s: float) -> None:
        """One model call of ``rows`` rows (the batcher's hook)."""
        self.execution_count += 1
        self.inference_count += rows
        entry = self._batches.get(rows)
        if entry is None:
            self._batches[rows] = [1, compute_s]
        else:
            entry[0] += 1
            entry[1] += compute_s

    def last_inference_ms(self) -> int:
        """When the latest request was computed, in ms since the epoch (0: never)."""
        if self._last is None:
            return 0
        return int((time.time() - time.perf_counter() + self._last) * 1000)

    def report(self, name: str, version: str) -> dict[str, object]:
        """One ``model_stats`` entry as Triton writes it (JSON; the gRPC message's fields)."""
        computed = self.computed_count
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms(),
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {
                "success": _duration(self.success_count, self.success_s),
                "fail": _duration(self.fail_count, self.fail_s),
                "queue": _duration(computed, self.queue_s),
                "compute_input": _duration(computed, self.input_s),
                "compute_infer": _duration(computed, self.infer_s),
                "compute_output": _duration(computed, self.output_s),
                "cache_hit": _duration(0, 0.0),
                "cache_miss": _duration(0, 0.0),
            },
            "batch_stats": [
                {"batch_size": rows, "compute_infer": _duration(int(count), seconds)}
                for rows, (count, seconds) in sorted(self._batches.items())
            ],
        }

"""A bounded load generator on 127.0.0.1: a fixed rate of single-row V2 requests for at
most a given time, counted by the variant that answered (the router's ``X-Baton-Variant``
header) and the status; a request that got no answer at all is counted under ``none``.
Each request is also kept with its start and end (``time.monotonic``) and its outcome, so
a fault test can tell which requests were in flight at a given instant.

Open loop: requests are sent on schedule whether or not earlier ones returned (a few
threads send them), so a stall shows as late or failed requests rather than a lower rate.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from tests.rollout.variant_models import FEATURES, load_rows

NO_ANSWER = "none"


@dataclass
class Tally:
    """Answers by (variant, status); transport errors by (none, exception name)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, variant: str, status: str) -> None:
        with self.lock:
            self.counts[(variant, status)] += 1

    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())

    def failed(self, but: frozenset[str] = frozenset()) -> dict[tuple[str, str], int]:
        """Every answer that is not 200, leaving out variants in ``but`` (a canary whose
        own model fails by design)."""
        with self.lock:
            return {k: n for k, n in self.counts.items() if k[1] != "200" and k[0] not in but}

    def by_variant(self) -> Counter[str]:
        with self.lock:
            out: Counter[str] = Counter()
            for (variant, _), n in self.counts.items():
                out[variant] += n
            return out


@dataclass(frozen=True)
class Sent:
    """One request: when it was sent and answered (monotonic seconds), and how."""

    start: float
    end: float
    variant: str
    status: str

    @property
    def ok(self) -> bool:
        return self.status == "200"

    def in_flight(self, start: float, end: float) -> bool:
        """Whether it was under way at some instant of ``[start, end]``."""
        return self.start <= end and self.end >= start


class Load:
    """``rate`` requests a second to ``url`` for at most ``seconds`` (or until ``stop``);
    rows of ``features`` columns (the canary's toy by default)."""

    def __init__(
        self,
        url: str,
        model: str,
        rate: float,
        seconds: float,
        seed: int = 0,
        features: int = FEATURES,
    ) -> None:
        self.path = f"{url}/v2/models/{model}/infer"
        self.rate, self.seconds = rate, seconds
        self.rows = load_rows(4096, seed)[:, :features]
        self.features = features
        self.tally = Tally()
        self._sent: list[Sent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._client = httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=16))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self._client.close()

    def sent(self) -> list[Sent]:
        """Every request answered (or failed) so far, in the order they ended."""
        with self.tally.lock:
            return list(self._sent)

    def _one(self, i: int) -> None:
        row = self.rows[i % len(self.rows)]
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, self.features],
                            "data": [float(v) for v in row]}]}  # fmt: skip
        start = time.monotonic()
        try:
            response = self._client.post(self.path, json=body)
        except httpx.HTTPError as exc:
            end = time.monotonic()
            variant, status = NO_ANSWER, type(exc).__name__
        else:
            end = time.monotonic()
            variant = response.headers.get("x-baton-variant", NO_ANSWER)
            status = str(response.status_code)
        self.tally.add(variant, status)
        with self.tally.lock:
            self._sent.append(Sent(start, end, variant, status))

    def _run(self) -> None:
        every = 1.0 / self.rate
        start = time.monotonic()
        with ThreadPoolExecutor(8, thread_name_prefix="load") as pool:
            i = 0
            while not self._stop.is_set():
                due = start + i * every
                if due - start > self.seconds:
                    break
                wait = due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break
                pool.submit(self._one, i)
                i += 1

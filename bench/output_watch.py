"""What counting every served output row costs a batch (``serve.drift.OutputWatch``).

The watch runs on the model's thread after every batch: one ``isfinite`` pass and, once
binned, the outputs set aside; they are binned in one vectorised pass every 8,192 rows
or when the counters are flushed (a scrape; every 0.5 s in multiprocess mode). Printed:
CPU microseconds a batch (process time: the machine may be busy), for the digits
classifier's output (10 probabilities, one reference bin set per class) at batch sizes 1,
32 and 256: without bins, binned (the amortised cost on the model's thread), and binned
with a flush after every batch (the worst case: a scrape after every batch).

    .venv/bin/python bench/output_watch.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from prometheus_client import CollectorRegistry, Counter

from baton.core.drift import build_reference
from baton.core.metric_names import bin_label
from baton.serve.drift import OutputWatch

CLASSES = 10


def per_batch_us(watch: OutputWatch, rows: int, repeat: int, flush: bool) -> float:
    rng = np.random.default_rng(0)
    batches = [
        {"probabilities": rng.dirichlet(np.ones(CLASSES), rows).astype(np.float32)}
        for _ in range(16)
    ]
    for batch in batches:  # warm-up
        watch.observe(batch)
    started = time.process_time()
    for i in range(repeat):
        watch.observe(batches[i % 16])
        if flush:
            watch.flush()
    return (time.process_time() - started) / repeat * 1e6


def make(binned: bool) -> OutputWatch:
    registry = CollectorRegistry()
    bins = Counter("bins", "bins", ["output", "bin"], registry=registry)
    nonfinite = Counter("nonfinite", "rows", registry=registry)
    watch = OutputWatch(["probabilities"], nonfinite)
    if binned:
        names = [f"probabilities[{i}]" for i in range(CLASSES)]
        values = np.random.default_rng(1).dirichlet(np.ones(CLASSES), 5000)
        watch.bin_with(build_reference(names, values), lambda o, u: bins.labels(o, bin_label(u)))
    return watch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'rows':>6} {'no bins':>10} {'binned':>10} {'+ flush each batch':>20}  (us a batch)")
    for rows in (1, 32, 256):
        figures = [per_batch_us(make(b), rows, args.repeat, f) for b, f in
                   ((False, False), (True, False), (True, True))]  # fmt: skip
        print(f"{rows:>6} {figures[0]:>10.1f} {figures[1]:>10.1f} {figures[2]:>20.1f}")


if __name__ == "__main__":
    main()

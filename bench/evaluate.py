"""Evaluation throughput against ONNX Runtime called in-process, and the gate's wall time.

.venv/bin/python bench/evaluate.py [--rows 100000] [--batch N] [--repeat 3] [--no-gate]

Target (issue 4): streaming 100,000 rows of the digits model from an .npz file through
the evaluation runner reaches at least 90% of the rows/s of calling ONNX Runtime on the
same rows, already in memory, at the same batch size. Then the whole gate (default
profile) runs on the digits example; its target is under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from baton.config import Settings
from baton.core.refs import Ref
from baton.core.signature import Signature
from baton.evaluate.datasets import EvalData
from baton.evaluate.runner import batch_rows, run_models
from baton.evaluate.scoring import class_indices
from baton.evaluate.service import evaluate
from baton.examples import digits
from baton.handover.register import register_handover
from baton.store.store import open_store


def in_process(session: ort.InferenceSession, x: np.ndarray, batch: int) -> float:
    """rows/s of ONNX Runtime alone, on rows already in memory."""
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        session.run(None, {"input": x[i : i + batch]})
    return len(x) / (time.perf_counter() - start)


def through_runner(session: ort.InferenceSession, data: EvalData, batch: int) -> float:
    """rows/s of the evaluation pass: stream from disk, map to the signature, run, keep."""
    start = time.perf_counter()
    result = run_models(
        {"candidate": session},
        data,
        batch_size=batch,
        target_transform=lambda t: class_indices(t, None, 10, data.filename),
    )
    return result.rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=0, help="0: the gate's own choice")
    parser.add_argument("--repeat", type=int, default=20, help="best of N (the machine is shared)")
    parser.add_argument("--no-gate", action="store_true", help="skip the end-to-end gate timing")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"onnxruntime {ort.__version__}"
    )

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model, x_eval, y_eval = digits.train(seed=0)
        onnx.save(model, str(tmp / "model.onnx"))
        reps = -(-args.rows // len(x_eval))
        x = np.ascontiguousarray(np.tile(x_eval, (reps, 1))[: args.rows])
        y = np.tile(y_eval, reps)[: args.rows]
        np.savez(tmp / "eval.npz", input=x, label=y)
        signature = Signature.model_validate(
            {
                "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
                "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 10]}],
            }
        )
        data = EvalData(tmp / "eval.npz", "eval.npz", signature, "label")
        args.batch = args.batch or batch_rows(signature)
        session = ort.InferenceSession(str(tmp / "model.onnx"), providers=["CPUExecutionProvider"])
        in_process(session, x[: args.batch * 4], args.batch)  # warm-up
        direct, ours = [], []
        for _ in range(args.repeat):
            direct.append(in_process(session, x, args.batch))
            ours.append(through_runner(session, data, args.batch))
        best_direct, best_ours = max(direct), max(ours)
        paired = float(np.median(np.array(ours) / np.array(direct)))
        print(f"rows {args.rows}, batch {args.batch}, best of {args.repeat} (interleaved)")
        print(f"  onnxruntime in-process : {best_direct:12,.0f} rows/s")
        print(f"  evaluation runner      : {best_ours:12,.0f} rows/s  (from .npz on disk)")
        ratio = best_ours / best_direct
        verdict = "met" if ratio >= 0.9 else "NOT met"
        print(f"  ratio of the bests     : {ratio:.2f}  (target >= 0.90: {verdict})")
        print(f"  median paired ratio    : {paired:.2f}  (pass by pass)")

        if not args.no_gate:
            settings = Settings(home=tmp / "home", user="bench")
            store = open_store(settings)
            digits.build(tmp / "handover")
            version = register_handover(store, tmp / "handover", actor="bench").version
            start = time.perf_counter()
            record = evaluate(store, Ref(version.model, version.number), actor="bench")
            took = time.perf_counter() - start
            points = len(record.report["profile"]["points"])
            print(
                f"gate, default profile, digits example: {took:.1f} s ({points} profile points, "
                f"{record.status}; target < 60 s)"
            )
            store.close()


if __name__ == "__main__":
    main()

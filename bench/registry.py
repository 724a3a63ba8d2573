"""Registration throughput: how long a hand-over takes to check and register, end to end.

.venv/bin/python bench/registry.py [--n 20]
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
import yaml

from baton.config import Settings
from baton.handover.register import register_handover
from baton.runtime.mlp import random_mlp
from baton.store.store import open_store


def handover(folder: Path, seed: int, width: int) -> Path:
    folder.mkdir(parents=True)
    onnx.save(random_mlp([64, width, width, 10], seed=seed), str(folder / "model.onnx"))
    np.savez(folder / "eval.npz", input=np.zeros((8, 64), np.float32), label=np.zeros(8, np.int64))
    (folder / "baton.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "bench",
                "owner": "bench",
                "model": "model.onnx",
                "signature": {
                    "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
                    "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 10]}],
                },
                "eval": {"data": "eval.npz"},
            }
        )
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--width", type=int, default=1024, help="hidden width (1024: ~17 MiB)")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = open_store(Settings(home=root / "home", user="bench"))
        folders = [handover(root / f"h{i}", i, args.width) for i in range(args.n)]
        size = (folders[0] / "model.onnx").stat().st_size
        start = time.perf_counter()
        for f in folders:
            register_handover(store, f, actor="bench")
        elapsed = time.perf_counter() - start
        print(
            f"registered {args.n} versions of a {size / 2**20:.1f} MiB model in {elapsed:.2f} s: "
            f"{elapsed / args.n * 1000:.0f} ms each"
        )
        store.close()


if __name__ == "__main__":
    main()

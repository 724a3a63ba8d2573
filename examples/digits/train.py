"""Train the digits classifier and write a hand-over folder (model.onnx, eval.npz, baton.yaml).

    python examples/digits/train.py [OUT_DIR] [--seed N]

Then: baton register OUT_DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

from baton.examples.digits import build


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", nargs="?", default=str(Path(__file__).parent / "handover"))
    parser.add_argument(
        "--seed", type=int, default=0, help="training seed (a new seed = a retrain)"
    )
    args = parser.parse_args()
    result = build(Path(args.out), seed=args.seed)
    print(f"wrote {result.folder}: accuracy {result.accuracy:.4f}, macro-F1 {result.macro_f1:.4f}")
    print(f"next: baton register {result.folder}")


if __name__ == "__main__":
    main()

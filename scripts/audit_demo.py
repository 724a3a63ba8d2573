"""The audit tour on a fleet you can make here: 14 days of history, a real Prometheus.

    .venv/bin/python scripts/audit_demo.py [--html audit.html] [--keep]

Writes a synthetic fleet of twelve deployments (what a small serving team runs: steady,
autoscaled, idle, a GPU one, one at risk...) as OpenMetrics, backfills it into a TSDB with
``promtool tsdb create-blocks-from openmetrics``, starts Prometheus on it, writes the
matching ``fleet.yaml`` and runs ``baton audit`` against it, as a user would. ``--keep``
leaves Prometheus running so you can query it or rerun the audit with other options.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from baton.audit.fleet_file import fleet_entry
from baton.core.inventory import CapacityOption
from baton.monitor.promtool import locate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit: not installed
from testkit.backfill import backfill, serve_tsdb
from testkit.synthetic import GIB, MIB, Spec, Spike, SyntheticFleet, write_openmetrics

DAY = 86400
SPECS = (
    Spec("fraud-scorer", "fraud-scorer", "12", replicas=8, base_rps=60, cores=4,
         memory_request_bytes=8 * GIB, memory_bytes=900 * MIB, rps_at_slo=220, slo_p99_ms=50),
    Spec("search-ranker", "search-ranker", "7", replicas=4, base_rps=560, daily_amplitude=0.6,
         spikes=(Spike(9.6 * DAY, 3 * 3600, 1.25),), latency_median_ms=9, cores=2,
         memory_request_bytes=4 * GIB, memory_bytes=2.2 * GIB, rps_at_slo=250,
         slo_p99_ms=40),
    Spec("speech-intent", "speech-intent", "3", replicas=3, base_rps=200, daily_amplitude=0.5,
         cores=2, memory_request_bytes=3 * GIB, memory_bytes=1.4 * GIB, rps_at_slo=140,
         slo_p99_ms=60),
    Spec("reviews-sentiment", "reviews-sentiment", "2", autoscale=(2, 12),
         target_rps_per_replica=20, base_rps=90, daily_amplitude=0.8, cores=1.5,
         memory_request_bytes=4 * GIB, memory_bytes=1.1 * GIB, rps_at_slo=130, slo_p99_ms=80),
    Spec("image-tagger", "image-tagger", "5", replicas=2, base_rps=25, gpu="nvml",
         gpu_utilization=0.04, gpu_memory_bytes=3 * GIB, cores=4, memory_request_bytes=16 * GIB,
         memory_bytes=2.5 * GIB, rps_at_slo=1800, slo_p99_ms=100),
    Spec("churn-predictor", "churn-predictor", "3", replicas=2, base_rps=0, cores=2,
         memory_request_bytes=2 * GIB),
    Spec("digits-classifier", "digits-classifier", "4", replicas=2, base_rps=150, cores=1,
         memory_request_bytes=1 * GIB, memory_bytes=700 * MIB, rps_at_slo=240,
         slo_p99_ms=25),
    Spec("doc-embedder", "doc-embedder", "9", replicas=3, base_rps=120, latency_median_ms=45,
         cores=2, memory_request_bytes=6 * GIB, memory_bytes=3 * GIB, rps_at_slo=150,
         slo_p99_ms=80),
    Spec("price-forecaster", "price-forecaster", "21", replicas=2, base_rps=15,
         gaps=((0, 11 * DAY),), rps_at_slo=100, slo_p99_ms=100),
    Spec("ocr-lite", "ocr-lite", "1", replicas=2, base_rps=35, cpu_per_request_s=0.012,
         cores=1, memory_request_bytes=2 * GIB, memory_bytes=800 * MIB, slo_p99_ms=200),
    Spec("recsys-embedder", "recsys-embedder", "6", replicas=6, base_rps=140, cores=2,
         memory_request_bytes=4 * GIB, memory_bytes=1.8 * GIB, rps_at_slo=160, slo_p99_ms=60),
    Spec("toxicity-filter", "toxicity-filter", "2", replicas=2, base_rps=3, cores=1,
         memory_request_bytes=2 * GIB, memory_bytes=500 * MIB, rps_at_slo=400, slo_p99_ms=50),
)  # fmt: skip
# the GPU deployment was load-tested on a CPU node too: the audit can compare hardware
GPU_ALTERNATIVES = {
    "image-tagger": (
        CapacityOption(hardware="nvidia-t4", cores=4, memory_bytes=16 * GIB, gpus=1,
                       rps_at_slo=1800),
        CapacityOption(hardware="cpu", cores=4, memory_bytes=4 * GIB, rps_at_slo=60),
    )
}  # fmt: skip


def write_fleet(fleet: SyntheticFleet, path: Path) -> None:
    entries = []
    for d in fleet.deployments():
        if d.name in GPU_ALTERNATIVES:
            d = d.model_copy(update={"capacity": GPU_ALTERNATIVES[d.name]})
        entries.append(fleet_entry(d))
    path.write_text(yaml.safe_dump({"deployments": entries}, sort_keys=False), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=Path("audit.html"))
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--keep", action="store_true", help="leave Prometheus running")
    args = parser.parse_args()
    own_workdir = args.workdir is None and not args.keep
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="baton-audit-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _demo(args, workdir)
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _demo(args: argparse.Namespace, workdir: Path) -> int:
    end = math.floor(time.time() / 3600) * 3600
    fleet = SyntheticFleet(SPECS, end=end, days=14, interval_s=300)
    print(f"writing 14 days of {len(SPECS)} deployments and backfilling with promtool ...")
    started = time.perf_counter()
    backfill(write_openmetrics(fleet, workdir / "openmetrics"), workdir / "tsdb",
             locate("promtool"), delete=True)  # fmt: skip
    print(f"  done in {time.perf_counter() - started:.0f} s; TSDB in {workdir / 'tsdb'}")
    write_fleet(fleet, workdir / "fleet.yaml")
    prom, url = serve_tsdb(workdir / "tsdb", workdir, port=args.port)
    command = [sys.executable, "-m", "baton.cli.main", "audit", "--no-servers", "--no-save",
               "--fleet", str(workdir / "fleet.yaml"), "--prometheus", url,
               "--window", "14d", "--end", datetime.fromtimestamp(end, UTC).isoformat(),
               "--rate-window", "15m", "--html", str(args.html)]  # fmt: skip
    print("$ baton " + " ".join(command[3:]))
    try:
        return subprocess.run(command, check=False).returncode
    finally:
        if args.keep:
            print(f"Prometheus keeps running at {url} (pid {prom.pid}); stop it with kill")
        else:
            prom.terminate()
            prom.wait(30)


if __name__ == "__main__":
    raise SystemExit(main())

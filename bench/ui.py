"""Dashboard speed: every page server-side with 1,000 models and 10,000 versions.

.venv/bin/python bench/ui.py [--models 1000] [--versions 10] [--repeat 20]
                             [--db sqlite|postgres|both]

Seeds a fresh store with ``testkit.seed.register_many`` (the rows and sealed audit entries
``Registry.register`` and ``Evaluations.record`` write, 50 models a transaction: a gate
report with charts for every other version), then promotions and requests for one model in
ten, a few teams and people, and canary rollouts (one finished, one in progress, each judged
interval with its numbers) for a few models, through the store's own methods, and one stored
right-size audit of 1,000 deployments (``testkit.audit_runs`` through ``store.audits``),
then times each page in-process (Starlette's test client: the app's whole work for the
request, no network), signed in as an approver. Prints the median and p95 of ``--repeat``
requests per page. Target (issue 19): every page under 200 ms on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from baton.config import Settings
from baton.core.evaluation import EvaluationReport
from baton.core.manifest import Manifest
from baton.core.promotion import Target
from baton.core.roles import RequestKind
from baton.core.rollout_records import (
    Change,
    Classification,
    Decision,
    MetricResult,
    Phase,
    Weights,
)
from baton.store.audits import Audits
from baton.store.evaluations import Status
from baton.store.governance import Governance
from baton.store.registry import FileRecord
from baton.store.rollouts import Expected, NewDecision, NewRollout, Rollouts
from baton.store.store import Store, open_store
from testkit.audit_runs import audit_run
from testkit.seed import Gate, Handover, register_many

PG = os.environ.get("BATON_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEAMS = ("research", "vision", "speech", "serving")
TARGET_MS = 200.0
BATCH = 50  # models per seeding transaction
AUDITED = 1000  # deployments in the stored right-size audit the serving page shows
ROLLED_OUT = 5  # models with rollouts (the middle one and the first few)


def manifest(name: str, owner: str, number: int) -> Manifest:
    return Manifest.model_validate(
        {
            "name": name,
            "version": f"2026.{number}",
            "owner": owner,
            "task": "classification",
            "model": "model.onnx",
            "description": f"{name}, hand-over {number}",
            "signature": {
                "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
                "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 10]}],
            },
            "labels": [str(i) for i in range(10)],
            "eval": {"data": "eval.npz", "claimed": {"accuracy": 0.96}},
        }
    )


def report(name: str, number: int, status: str) -> EvaluationReport:
    matrix = [[90 if i == j else 1 for j in range(10)] for i in range(10)]
    return EvaluationReport.model_validate(
        {
            "schema": 1, "model": name, "version": number, "task": "classification",
            "verdict": {"passed": status == "passed", "status": status, "reasons": []},
            "checks": {"claims": {"passed": True, "status": "passed",
                                  "reasons": ["accuracy 0.961 within 0.01 of 0.96"]}},
            "metrics": {"accuracy": 0.961, "labels": [str(i) for i in range(10)],
                        "confusion_matrix": matrix,
                        "per_class_recall": {str(i): 0.9 for i in range(10)}},
            "claimed": {"accuracy": 0.96}, "tolerance": 0.01,
        }
    )  # fmt: skip


def handovers(m: int, versions: int, now: datetime) -> list[Handover]:
    """Model ``m``'s versions; every other one with a gate report (one in seven failed)."""
    name, owner = f"model-{m:04d}", TEAMS[m % 3]
    out = []
    for n in range(1, versions + 1):
        digest = uuid.uuid5(uuid.NAMESPACE_OID, f"{name}:{n}").hex * 2
        files = [FileRecord("model", "model.onnx", digest, 1000 + n)]
        gate = None
        if n % 2 == 0:
            status: Status = "failed" if (m + n) % 7 == 0 else "passed"
            gate = Gate(status, report(name, n, status), now)
        out.append(Handover(manifest(name, owner, n), files, gate))
    return out


def seed(store: Store, models: int, versions: int) -> tuple[str, float]:
    """Fill the store; returns a token of an approver and the seconds it took."""
    began = time.perf_counter()
    gov = Governance.of(store)
    boot = gov.people.acting("root")
    for team in TEAMS:
        gov.people.add_team(team, boot, "bench")
    root, _ = gov.people.add_person("root", ["serving"], boot)
    sam, issued = gov.people.add_person("sam", ["serving", "research"], root)
    now = datetime.now(UTC)
    for start in range(0, models, BATCH):
        batch = [handovers(m, versions, now) for m in range(start, min(models, start + BATCH))]
        register_many(store.engine, batch, "bench")
        print(f"  seeded {start + len(batch)} models ({time.perf_counter() - began:.0f} s)",
              flush=True)  # fmt: skip
    for m in range(0, models, 10):
        if (m + 2) % 7 != 0:  # version 2 passed its gate
            name = f"model-{m:04d}"
            gov.promotions.promote(name, 2, Target.STAGING, sam, "bench")
            gov.requests.raise_request(name, RequestKind.SCALE, "more replicas", sam)
    Audits(store.engine).save(audit_run(AUDITED), "bench")
    for m in {models // 2, *range(min(ROLLED_OUT - 1, models))}:
        seed_rollouts(store, f"model-{m:04d}")
    return issued.token, time.perf_counter() - began


def _split(canary: int) -> Weights:
    return Weights(stable=100 - 2 * canary, baseline=canary, canary=canary)


def _metrics(m: int) -> dict[str, MetricResult]:
    n = 200 + 10 * m
    return {
        "errors": MetricResult(classification=Classification.PASS, critical=True,
                               canary=0.002, baseline=0.003, n_canary=n, n_baseline=n + 3,
                               p_value=0.7),
        "latency": MetricResult(classification=Classification.PASS, statistic=n * n / 2.1,
                                p_value=0.4, effect=0.0001, ci_low=-0.0002, ci_high=0.0003,
                                n_canary=n, n_baseline=n + 3),
        "output": MetricResult(classification=Classification.PASS, canary=0.03, baseline=0.03,
                               values={"psi": 0.01}),
    }  # fmt: skip


def seed_rollouts(store: Store, name: str) -> None:
    """A canary of ``name`` promoted through its four steps (two held intervals on the way),
    then one in progress at its third step: what the controller records, decision by
    decision (the numbers are made up, the records are real)."""
    repo = Rollouts(store.engine)
    for to, steps_done, finish in ((9, 4, True), (10, 2, False)):
        r = repo.start(NewRollout(name, 8, to, baseline_version=8), "sam", f"release {to}")
        r = repo.update(r.id, Change(phase=Phase.PROGRESSING, weights=_split(5)),
                        expected=Expected.of(r), actor="controller")  # fmt: skip
        steps = r.spec.steps
        for step in range(steps_done):
            for held in range(1 if step % 2 else 0):
                repo.record_decision(r.id, NewDecision(step, _split(steps[step]), 80.0,
                                     Decision.HOLD, "too few requests", _metrics(held)),
                                     expected=Expected.of(r), actor="controller")  # fmt: skip
            last = step + 1 == len(steps)
            after = (
                Change(step=step + 1, weights=_split(steps[step + 1]))
                if not last
                else (
                    Change(
                        phase=Phase.PROMOTING, step=step + 1, weights=Weights(stable=0, canary=100)
                    )
                )
            )
            repo.record_decision(r.id, NewDecision(step, _split(steps[step]), 100.0,
                                 Decision.PROMOTE if last else Decision.ADVANCE,
                                 "every metric passed", _metrics(step)),
                                 expected=Expected.of(r), actor="controller",
                                 change=after)  # fmt: skip
            r = repo.get(r.id)
        if finish:
            repo.update(r.id, Change(phase=Phase.SUCCEEDED), expected=Expected.of(r),
                        actor="controller", reason="promoted through every step")  # fmt: skip


def pages(store: Store, models: int, versions: int) -> list[str]:
    mid = f"model-{models // 2:04d}"
    live, finished = Rollouts(store.engine).list(mid)  # newest first
    return [
        "/ui/",
        "/ui/?page=20",
        "/ui/?verdict=passed&team=vision",
        "/ui/?q=model-09",
        "/ui/?stage=none&page=5",
        f"/ui/models/{mid}",
        f"/ui/models/{mid}/versions/{versions}",
        "/ui/models/model-0000/versions/2",
        f"/ui/models/{mid}?at=1 minute ago",
        f"/ui/models/{mid}/rollouts/{finished.id}",
        f"/ui/models/{mid}/rollouts/{live.id}",
        f"/ui/ownership?model={mid}",
        "/ui/requests?team=serving",
        "/ui/audit",
        f"/ui/audit?model={mid}",
        "/ui/audit?action=promotion&page=3",
        "/ui/serving",
        "/ui/serving?verdict=idle&page=2",
        "/ui/serving/audits/1?page=20",
        "/ui/exporters",
        "/ui/exporters/node_exporter",
    ]


def time_pages(
    store: Store, token: str, paths: list[str], repeat: int
) -> list[tuple[str, float, float]]:
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # starlette wants httpx2 one day
    from starlette.testclient import TestClient

    from baton.ui.app import standalone

    client = TestClient(standalone(Governance.of(store)), base_url="http://bench")
    signin = client.get("/ui/signin").text
    form_token = signin.split('name="form_token" value="')[1].split('"')[0]
    got = client.post("/ui/signin", data={"form_token": form_token, "token": token,
                                          "next": "/ui/"}, follow_redirects=False)  # fmt: skip
    assert got.status_code == 303, got.text
    rows = []
    for path in paths:
        client.get(path)  # warm: templates compiled, connections open
        took = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get(path)
            took.append(1000 * (time.perf_counter() - start))
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
        took.sort()
        rows.append((path, statistics.median(took), took[max(0, int(0.95 * len(took)) - 1)]))
    return rows


def run(kind: str, url: str, args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory() as home:
        store = open_store(Settings(home=Path(home), db_url=url, user="bench"))
        try:
            print(f"{kind}: seeding {args.models} models x {args.versions} versions", flush=True)
            token, seconds = seed(store, args.models, args.versions)
            with store.engine.connect() as conn:
                count = conn.execute(sa.text("SELECT count(*) FROM versions")).scalar()
            print(f"{kind}: {count} versions seeded in {seconds:.0f} s")
            rows = time_pages(store, token, pages(store, args.models, args.versions), args.repeat)
        finally:
            store.close()
    print(f"\n{kind}: page render time, in-process, {args.repeat} requests each")
    print(f"{'page':44} {'median ms':>10} {'p95 ms':>10}")
    for path, median, p95 in rows:
        flag = "" if p95 < TARGET_MS else "  over target"
        print(f"{path:44} {median:10.1f} {p95:10.1f}{flag}")
    return all(p95 < TARGET_MS for _, _, p95 in rows)


def _pg_schema() -> str:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return schema


def _drop(schema: str) -> None:
    engine = sa.create_engine(PG)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10, help="versions per model")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    ok = True
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            ok &= run("sqlite", f"sqlite:///{folder}/baton.db", args)
    if args.db in ("postgres", "both"):
        schema = _pg_schema()
        try:
            ok &= run("postgres", f"{PG}?options=-csearch_path%3D{schema}", args)
        finally:
            _drop(schema)
    print(f"load after: {os.getloadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

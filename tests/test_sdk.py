"""``baton.Client`` as a notebook or a pipeline uses it: only the public names, real parts.

A local store on SQLite, the real gate, a real server in a thread answered over HTTP, and a
real ``baton api`` process for the remote client. The log it leaves is the log the
commands leave.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import baton
from tests.baton_cli import baton as run_baton
from tests.baton_cli import clean_env, free_port
from tests.handover_factory import write_handover

HEAVY = ("onnx", "onnxruntime", "numpy", "sklearn", "plotly", "fastapi", "sqlalchemy", "alembic")
ROW = {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [0.1, 0.2, 0.3, 0.4]}


def test_import_baton_stays_light() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import baton"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "baton" in imported
    assert {name for name in imported if name.split(".")[0] in HEAVY} == set()


def test_every_public_name_resolves() -> None:
    for name in baton.__all__:
        assert getattr(baton, name) is not None, name
        assert name in dir(baton)
    assert issubclass(baton.NotFound, baton.BatonError)
    assert baton.AuditEntry is baton.LogEntry  # the former name of the audit log's entry
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = baton.Nope  # type: ignore[attr-defined]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A store with teams research and serving; root (serving, admin) and ana (research)."""
    home = tmp_path / "home"
    with baton.Client(home=home, user="root") as admin:
        admin.add_team("research", why="owns the models")
        admin.add_team("serving", why="runs them")
        admin.add_user("root", teams=["serving"])
        admin.add_user("ana", teams=["research"])
    return home


def test_register_evaluate_promote_serve(home: Path, tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "h")
    with baton.Client(home=home, user="ana") as ana, baton.Client(home=home, user="root") as root:
        done = ana.register(folder, why="first hand-over")
        assert isinstance(done, baton.Registered)
        assert (done.created, done.version.ref, done.version.aliases) == (
            True,
            "toy:1",
            ("candidate",),
        )
        assert ana.register(folder).created is False  # the same bytes: reported, not stored
        record = ana.evaluate("toy:1", mode="quick")
        assert isinstance(record, baton.EvaluationRecord) and record.passed
        assert ana.report("toy:1").id == record.id
        assert "toy:1" in ana.report_html("toy:1")
        step = root.promote("toy:1", to="staging", why="passed the gate")
        assert isinstance(step, baton.PromotionInfo)
        assert (step.state, step.missing) == ("pending", {"evaluation": "research"})
        with pytest.raises(baton.Forbidden, match="may not approve it too"):
            root.approve("toy:1", stage="staging", why="looks fine to me")
        assert ana.approve("toy:1", stage="staging", why="numbers match").state == "applied"
        assert ana.show("toy@staging").number == 1
        assert [m.name for m in ana.models()] == ["toy"]
        served_once(ana)
        actions = [e.action for e in ana.log(limit=10)]
    assert actions == [
        "server.stop", "server.start",  # the audit's inventory: a server, for the time it ran
        "promotion.apply", "alias.set", "promotion.approve", "promotion.approve.refused",
        "promotion.request", "evaluation.passed", "alias.set", "version.register",
    ]  # fmt: skip


def served_once(client: baton.Client) -> None:
    """Serve toy@staging in a thread: it answers V2 requests until stopped, then not."""
    with client.serve("toy@staging", threads=1) as server:
        assert isinstance(server, baton.Serving) and server.running
        (model,) = server.models
        assert (model.requested, model.ref, model.url) == (
            "toy@staging", "toy:1", f"{server.url}/v2/models/toy",
        )  # fmt: skip
        assert (model.plan.config.intra_op_threads, model.plan.sources["threads"]) == (1, "flag")
        answer = httpx.post(f"{model.url}/infer", json={"inputs": [ROW]})
        assert answer.status_code == 200, answer.text
        (probabilities,) = answer.json()["outputs"]
        assert probabilities["shape"] == [1, 3]
        assert abs(sum(probabilities["data"]) - 1) < 1e-5
        assert httpx.get(model.url).json()["parameters"]["threads"] == 1
    assert not server.running
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/v2/health/live", timeout=2)


def test_bad_input_is_a_baton_error(home: Path) -> None:
    with baton.Client(home=home, user="ana") as ana:
        with pytest.raises(baton.NotFound, match="unknown model 'nope'"):
            ana.show("nope:1")
        with pytest.raises(baton.BadInput, match="name the version: NAME:VERSION"):
            ana.promote("toy", to="staging", why="x")
        with pytest.raises(baton.BadInput, match="does not exist"):
            ana.register(home / "missing")
        with pytest.raises(baton.BadInput, match="mode 'slow'"):
            ana.evaluate("toy:1", mode="slow")  # type: ignore[arg-type]
        with pytest.raises(baton.NotFound, match="unknown model"):
            ana.serve("nope")
    with pytest.raises(baton.BadInput, match="'mysql' is not supported"):
        baton.Client(home=home, db_url="mysql://x@127.0.0.1/db").models()
    with pytest.raises(baton.BadInput, match="baton.Client settings: user"):
        baton.Client(home=home, user=["ana"])  # type: ignore[arg-type]


def test_the_client_leaves_the_log_the_commands_leave(home: Path, tmp_path: Path) -> None:
    """Same rules, same audit entries: the walk through the Client and through `baton`."""
    folder = write_handover(tmp_path / "h")
    with baton.Client(home=home, user="ana") as ana, baton.Client(home=home, user="root") as root:
        ana.register(folder, why="hand-over")
        ana.evaluate("toy:1", mode="quick")
        root.promote("toy:1", to="staging", why="passed")
        ana.approve("toy:1", stage="staging", why="ok")
        by_client = [(e.actor, e.action, e.model, e.version, e.reason) for e in ana.log(limit=50)]
    cli_home = tmp_path / "cli"
    steps = [
        ("root", "team", "add", "research", "--why", "owns the models"),
        ("root", "team", "add", "serving", "--why", "runs them"),
        ("root", "user", "add", "root", "--team", "serving"),
        ("root", "user", "add", "ana", "--team", "research"),
        ("ana", "register", str(folder), "--why", "hand-over"),
        ("ana", "evaluate", "toy:1", "--quick"),
        ("root", "promote", "toy:1", "--to", "staging", "--why", "passed"),
        ("ana", "approve", "toy:1", "--stage", "staging", "--why", "ok"),
    ]
    for user, *args in steps:
        done = run_baton(clean_env(cli_home, BATON_USER=user), *args)
        assert done.returncode == 0, (args, done.stderr)
    with baton.Client(home=cli_home) as cli:
        by_cli = [(e.actor, e.action, e.model, e.version, e.reason) for e in cli.log(limit=50)]
    assert by_client == by_cli


@pytest.fixture
def control_plane(home: Path) -> Iterator[str]:
    """``baton api`` on the store, in its own process; its URL once it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "baton.cli.main", "api", "--port", str(port), "--json"]
    proc = subprocess.Popen(cmd, env=clean_env(home), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())["url"]
    finally:
        proc.terminate()
        proc.wait(30)


def test_remote_client(home: Path, tmp_path: Path, control_plane: str) -> None:
    with baton.Client(home=home, user="root") as admin:
        tokens = {n: admin.add_user(n, teams=["research"]).token.token for n in ("bo", "cy")}
    folder = write_handover(tmp_path / "h")
    with baton.Client(home=home, user="ana") as ana:
        ana.register(folder)
        record = ana.evaluate("toy:1", mode="quick")
    bo = baton.Client(url=control_plane, token=tokens["bo"])
    cy = baton.Client(url=control_plane, token=tokens["cy"])
    with bo, cy:
        assert bo.remote and bo.whoami().name == "bo"
        assert [m.name for m in bo.models()] == ["toy"]
        assert bo.show("toy").sha256 == bo.model("toy")[1][0].sha256
        assert bo.report("toy:1").id == record.id
        assert bo.promote("toy:1", to="staging", why="remote").state == "pending"
        with pytest.raises(baton.Forbidden, match="may not approve"):
            bo.approve("toy:1", stage="staging", why="my own")
        assert cy.approve("toy:1", stage="staging", why="checked").state == "applied"
        assert [p.state for p in cy.promotions("toy")] == ["applied"]
        assert (cy.log("toy", limit=1)[0].actor, cy.log("toy", limit=1)[0].action) == (
            "cy", "promotion.apply",
        )  # fmt: skip
        for local_only in (
            lambda: bo.register(folder),
            lambda: bo.evaluate("toy:1"),
            lambda: bo.serve("toy"),
            lambda: bo.audit(),
        ):
            with pytest.raises(baton.BadInput, match="works on the store itself"):
                local_only()
    with pytest.raises(baton.Unauthorized, match="the token is not valid"):
        baton.Client(url=control_plane, token="bt_000000000000_nope").models()
    with pytest.raises(baton.Unavailable, match="cannot reach the control plane"):
        baton.Client(url="http://127.0.0.1:9", token="x").models()


def test_history_answers_what_served_when(tmp_path: Path) -> None:
    from datetime import datetime

    from baton.config import Settings
    from baton.store.store import open_store
    from tests.history_factory import build_past

    home = tmp_path / "home"
    db_url = f"sqlite:///{home / 'baton.db'}"  # named: a BATON_DB_URL outside must not leak in
    store = open_store(Settings(home=home, db_url=db_url))
    past = build_past(store, tmp_path / "h")
    store.close()
    with baton.Client(home=home, db_url=db_url, user="sam") as client:
        mid = client.history("toy", at=past.marks["mid_rollout"])
        assert mid.served.alias("production").version == 1  # type: ignore[union-attr]
        assert mid.served.rollout is not None and mid.served.rollout.weights.canary == 25
        assert client.history("toy", at=past.marks["rolled_back"].isoformat()).served == (
            client.history("toy", at=past.marks["rolled_back"]).served
        )
        assert client.history("toy", at="1 day ago").served.aliases == ()
        assert len(client.history("toy").events) == 37
        with pytest.raises(baton.BadInput, match="aware datetime"):
            client.history("toy", at=datetime(2026, 1, 1))
        with pytest.raises(baton.NotFound, match="unknown model 'nope'"):
            client.history("nope")


def test_rollouts_read_and_refuse_alike_here_and_through_a_control_plane(
    tmp_path: Path,
) -> None:
    """Canary status, pages of rollouts and refusals, from the store and through ``baton
    api`` (where the token's owner acts): the same records and the same errors."""
    from baton.config import Settings
    from baton.store.store import open_store
    from tests.history_factory import build_past

    home = tmp_path / "home"
    db_url = f"sqlite:///{home / 'baton.db'}"
    store = open_store(Settings(home=home, db_url=db_url))
    past = build_past(store, tmp_path / "h")
    store.close()
    port = free_port()
    cmd = [sys.executable, "-m", "baton.cli.main", "api", "--port", str(port), "--json"]
    env = clean_env(home, BATON_DB_URL=db_url)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        local = baton.Client(home=home, db_url=db_url, user="sam")
        remote = baton.Client(url=url, token=past.world.tokens["sam"])
        with local, remote:
            for client in (local, remote):
                status = client.canary_status("toy")
                assert status.rollout.id == past.ids["rollout3"]
                assert status.decisions[0].metrics["nonfinite"].canary == 12
                page, following = client.rollouts("toy", limit=1)
                assert [r.id for r in page] == [past.ids["rollout3"]] and following == 1
                assert client.rollouts("toy", offset=1) == ([local.rollouts("toy")[0][1]], None)
                assert client.deployments() == []
                with pytest.raises(baton.Conflict, match="no canary in progress"):
                    client.canary_pause("toy", why="a look")
                with pytest.raises(baton.BadInput, match="say why you abort the canary"):
                    client.canary_abort("toy", why="")
                with pytest.raises(baton.NotFound, match="toy is not deployed here"):
                    client.canary_start("toy", 3, why="again", profile="test")
                with pytest.raises(baton.NotFound, match="toy is not deployed here"):
                    client.deploy_down("toy", why="nothing runs")
                with pytest.raises(baton.NotFound, match="unknown model 'nope'"):
                    client.canary_status("nope")
            assert remote.canary_status("toy") == local.canary_status("toy")
    finally:
        proc.terminate()
        proc.wait(30)

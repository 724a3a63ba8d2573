"""``baton deploy`` as a user runs it: exit codes, one-line errors, the record listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.config import Settings
from baton.core.evaluation import EvaluationReport
from baton.store.store import open_store
from baton.store.tx import utcnow
from tests.baton_cli import baton, clean_env
from tests.handover_factory import write_handover


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from baton.deploy.wheel import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_render_check_list(tmp_path: Path, wheel: Path) -> None:
    env = clean_env(tmp_path / "home", BATON_USER="cli-tester")
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    out = str(tmp_path / "o")
    r = baton(env, "deploy", "render", "toy:1", "--target", "k8s", "--out", out)
    assert r.returncode == 1 and "toy:1 never ran the gate" in r.stderr
    assert "Traceback" not in r.stderr and not Path(out).exists()
    store = open_store(Settings(home=tmp_path / "home", user="cli-tester"))
    store.evaluations.record(
        "toy", 1, status="passed", report=EvaluationReport(), actor="g", started_at=utcnow()
    )
    store.close()
    r = baton(env, "deploy", "render", "toy:1", "-t", "helm", "--out", out)
    assert r.returncode == 2 and "unknown target 'helm'" in r.stderr
    r = baton(env, "deploy", "render", "nope:1", "-t", "k8s", "--out", out)
    assert r.returncode == 2 and "unknown model 'nope'" in r.stderr
    r = baton(env, "deploy", "render", "toy:1", "-t", "k8s", "-t", "image", "--out", out,
              "--cpu", "500m", "--memory", "1Gi", "--wheel", str(wheel))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "cpu 500m (--cpu), memory 1024Mi (--memory)" in r.stdout
    r = baton(env, "deploy", "render", "toy:1", "-t", "k8s", "--out", out)
    assert r.returncode == 2 and "exists: pick a new --out, or pass --overwrite" in r.stderr
    r = baton(env, "deploy", "check", out)
    assert r.returncode == 0 and "no problems" in r.stdout, r.stdout + r.stderr
    (Path(out) / "k8s" / "toy-v1.yaml").write_text("apiVersion: v1\nkind: Nope\n")
    r = baton(env, "deploy", "check", out)
    assert r.returncode == 1
    assert "k8s/toy-v1.yaml: changed since it was rendered" in r.stdout
    assert "no Kubernetes 1.33.0 schema for this kind" in r.stdout
    r = baton(env, "deploy", "list", "toy")
    assert r.returncode == 0 and "cli-tester" in r.stdout and "toy:1  image,k8s" in r.stdout

"""The Compose target's canary, offline: ``--canary V --percent P --with-router`` renders the
stable, baseline and canary services behind the router, and every part agrees with the
router's variant table: each upstream is a service of the file listening on the port the
router dials (its own command says so, as baton's CLI parses it), each service is healthy
on that port, the weights are the rendered share, Prometheus labels each variant as the
judge reads it, the admin token is a secret file and never in the rendered text. The file
passes the Compose schema (``baton deploy check``), the image's Dockerfile hadolint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from baton.core.evaluation import EvaluationReport
from baton.deploy.check import check_dir
from baton.deploy.compose import TOKEN_SECRET
from baton.deploy.compose_canary import SERVICES
from baton.errors import BadInput
from baton.store.store import Store
from baton.store.tx import utcnow
from tests.deploy.compose_file import parse_command, read_compose, router_table
from tests.deploy.conftest import render_toy


@pytest.fixture
def both_passed(evaluated: Store) -> Store:
    evaluated.evaluations.record("toy", 2, status="passed", report=EvaluationReport(),
                                 actor="gate", started_at=utcnow())  # fmt: skip
    return evaluated


def _digest(store: Store, version: int) -> str:
    from baton.core.refs import Ref

    return store.registry.resolve(Ref("toy", version=version)).sha256


def test_a_canary_renders_three_services_behind_the_router(
    both_passed: Store, wheel: Path, tmp_path: Path
) -> None:
    out = render_toy(both_passed, tmp_path / "c", wheel, "compose", "image", with_router=True,
                     with_monitoring=True, canary=2, percent=5).out  # fmt: skip
    assert check_dir(out) == []  # Compose schema, depends_on, hadolint on the Dockerfile
    doc = read_compose(out)
    services = doc["services"]
    assert set(services) == {"baton", "baseline", "canary", "router", "prometheus", "alertmanager"}
    router = services["router"]
    # the image makes the router's state folder its user's: the volume starts from it
    copy = f"COPY --chown={router['user']} router-state/ /var/lib/baton/router/"
    assert copy in (out / "image/Dockerfile").read_text().splitlines()
    assert (out / "image/router-state/README").is_file()
    table = router_table(router)
    assert table.weights.as_dict() == {"stable": 90.0, "baseline": 5.0, "canary": 5.0}
    assert {v: s for v, (s, _) in table.upstreams.items()} == SERVICES
    assert router["depends_on"] == {s: {"condition": "service_healthy"} for s in SERVICES.values()}
    versions = {"stable": "1", "baseline": "1", "canary": "2"}
    for variant, (name, port) in table.upstreams.items():
        body = services[name]
        serve = parse_command(body["command"])
        assert (serve["host"], serve["port"]) == ("0.0.0.0", port)  # where the router dials
        assert body["expose"] == [str(port)] and "ports" not in body  # the router's only
        assert f"127.0.0.1:{port}/v2/health/ready" in body["healthcheck"]["test"][-1]
        assert body["labels"]["baton.dev/track"] == variant
        assert body["labels"]["baton.dev/version"] == versions[variant]
        assert body["environment"] == {"BATON_HOME": "/tmp/baton"}
    assert services["canary"]["image"] == "baton/toy:2"
    assert services["baton"]["image"] == services["baseline"]["image"] == "baton/toy:1"
    assert services["canary"]["labels"]["baton.dev/digest"] == f"sha256:{_digest(both_passed, 2)}"
    assert services["baseline"]["command"] == services["baton"]["command"]
    # the router: published in the version's place, its token a secret file
    assert router["ports"] == ["127.0.0.1:8080:8080"]
    assert table.params["port"] == 8080 and table.params["host"] == "0.0.0.0"
    assert str(table.params["admin_token_file"]) == f"/run/secrets/{TOKEN_SECRET}"
    assert doc["secrets"] == {TOKEN_SECRET: {"file": "./router.token"}}
    text = (out / "compose/compose.yaml").read_text()
    assert "token" not in " ".join(
        str(v) for b in services.values() for v in b.get("environment", {})
    )
    assert "--admin-token " not in text and "BATON_ROUTER_ADMIN_TOKEN" not in text
    # Prometheus scrapes each variant with the label the judge selects by
    prometheus = yaml.safe_load((out / "compose/prometheus.yml").read_text())
    targets = prometheus["scrape_configs"][0]["static_configs"]
    labelled = {t["labels"].get("variant"): (t["targets"], t["labels"].get("version"))
                for t in targets}  # fmt: skip
    for variant, (name, port) in table.upstreams.items():
        assert labelled[variant] == ([f"{name}:{port}"], versions[variant])


def test_on_a_volume_both_versions_run_one_image_from_their_own_folders(
    both_passed: Store, wheel: Path, tmp_path: Path
) -> None:
    out = render_toy(both_passed, tmp_path / "c", wheel, "compose", with_router=True,
                     canary=2, percent=50, model_from="volume").out  # fmt: skip
    assert check_dir(out) == []
    services = read_compose(out)["services"]
    assert router_table(services["router"]).weights.as_dict() == {
        "stable": 0.0, "baseline": 50.0, "canary": 50.0}  # fmt: skip
    images = {services[s]["image"] for s in SERVICES.values()}
    assert images == {"baton/toy:1"}
    folders = {s: services[s]["volumes"][0]["volume"]["subpath"] for s in SERVICES.values()}
    assert folders == {"baton": _digest(both_passed, 1), "baseline": _digest(both_passed, 1),
                       "canary": _digest(both_passed, 2)}  # fmt: skip


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"with_router": False}, "needs --with-router"),
        ({"percent": 60}, "at most 50"),
        ({"image": "registry.example/toy:latest"}, "must be tagged with the version"),
    ],
)
def test_a_canary_that_cannot_be_rendered_says_why_and_writes_nothing(
    both_passed: Store, wheel: Path, tmp_path: Path, options: dict[str, object], message: str
) -> None:
    settings: dict[str, Any] = {"with_router": True, "canary": 2, "percent": 5, **options}
    with pytest.raises(BadInput, match=message):
        render_toy(both_passed, tmp_path / "c", wheel, "compose", **settings)
    assert not (tmp_path / "c").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".c.")] == []

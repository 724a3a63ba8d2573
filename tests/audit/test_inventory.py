"""The inventory from baton's own servers, manifests and fleet.yaml, and a real baton serve."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from baton.audit.inventory import gather
from baton.audit.service import size_deployment
from baton.config import Settings
from baton.core.evaluation import EvaluationReport
from baton.core.pricing import Prices
from baton.core.serving_config import ServingConfig
from baton.core.sizing import SizingPolicy
from baton.errors import BadInput
from baton.handover.register import register_handover
from baton.store.servers import ServedModel, ServerFacts
from baton.store.store import Store, open_store
from baton.store.tx import utcnow
from tests.baton_cli import clean_env, serving
from tests.handover_factory import write_handover

EXAMPLES = Path(__file__).parents[2] / "examples" / "fleet"
GI = 1024**3
ELSEWHERE = ServerFacts(
    host="10.0.0.7",
    port=8000,
    hostname="node-a",  # not this machine: its process cannot be checked from here
    pid=4242,
    workers=2,
    cpu_affinity=(0, 1, 2, 3),
    cpu_limit=2.0,
    memory_limit_bytes=4 * GI,
    memory_total_bytes=64 * GI,
)
TOY1 = ServedModel("toy", 1, "production", max_batch_size=16, threads=2, precision="fp32")


@pytest.fixture
def toy(store: Store, tmp_path: Path) -> Store:
    """Model ``toy`` (owner research) at versions 1 and 2."""
    for seed in (1, 2):
        register_handover(store, write_handover(tmp_path / f"toy{seed}", seed=seed), actor="tester")
    return store


def test_servers_of_one_version_are_its_replicas(toy: Store) -> None:
    toy.servers.started(ELSEWHERE, [TOY1], actor="tester")
    toy.servers.started(replace(ELSEWHERE, host="10.0.0.8", hostname="node-b"), [TOY1], "tester")
    inventory = gather(toy, [], None)
    (d,) = inventory.deployments
    assert (d.name, d.model, d.version, d.source) == ("toy:1", "toy", "1", "baton")
    assert d.replicas == 2
    assert d.instances == ("10.0.0.7:8000", "10.0.0.8:8000")
    assert (d.resources.cores, d.resources.memory_bytes) == (2.0, 4 * GI)
    assert (d.resources.cpu_limit, d.resources.memory_limit_bytes) == (2.0, 4 * GI)
    assert (d.resources.gpus, d.resources.hardware) == (0, "cpu")
    assert d.serving.model_dump() == {
        "max_batch_size": 16,
        "threads": 2,
        "precision": "fp32",
        "workers": 2,
    }
    assert d.owner == "research"
    assert d.origin == "baton serve at 10.0.0.7:8000, 10.0.0.8:8000"
    assert inventory.notes == []


def test_a_server_of_two_versions_splits_what_it_was_given(toy: Store) -> None:
    toy.servers.started(ELSEWHERE, [TOY1, ServedModel("toy", 2)], actor="tester")
    one, two = gather(toy, [], None).deployments
    assert (one.version, two.version) == ("1", "2")
    assert one.resources.cores == two.resources.cores == 1.0
    assert one.resources.memory_bytes == 2 * GI


def test_a_version_served_twice_by_one_server_counts_once(toy: Store) -> None:
    toy.servers.started(ELSEWHERE, [TOY1, replace(TOY1, alias=None)], actor="tester")
    (d,) = gather(toy, [], None).deployments
    assert (d.replicas, d.resources.cores) == (1, 2.0)


def test_unlimited_servers_sharing_a_machine_split_it(toy: Store) -> None:
    free = replace(ELSEWHERE, cpu_limit=None, memory_limit_bytes=None)
    toy.servers.started(free, [TOY1], actor="tester")
    toy.servers.started(replace(free, port=8001), [ServedModel("toy", 2)], actor="tester")
    inventory = gather(toy, [], None)
    assert [d.resources.cores for d in inventory.deployments] == [2.0, 2.0]  # 4 CPUs, 2 servers
    assert [d.resources.memory_bytes for d in inventory.deployments] == [32 * GI, 32 * GI]
    assert [d.resources.cpu_limit for d in inventory.deployments] == [None, None]
    assert "2 baton servers share node-a" in inventory.notes[0]


def test_unequal_replicas_are_averaged_with_a_note(toy: Store) -> None:
    toy.servers.started(ELSEWHERE, [TOY1], actor="tester")
    toy.servers.started(replace(ELSEWHERE, port=9000, cpu_limit=4.0), [TOY1], actor="tester")
    inventory = gather(toy, [], None)
    assert inventory.deployments[0].resources.cores == 3.0
    assert "different cores, memory or GPUs" in inventory.notes[0]


def test_without_recorded_settings_the_evaluation_gives_them(toy: Store) -> None:
    toy.evaluations.record(
        "toy",
        2,
        status="passed",
        report=EvaluationReport(),
        actor="tester",
        started_at=utcnow(),
        recommended=ServingConfig(max_batch_size=64, intra_op_threads=4, precision="int8"),
    )
    toy.servers.started(ELSEWHERE, [ServedModel("toy", 2)], actor="tester")
    (d,) = gather(toy, [], None).deployments
    assert (d.serving.max_batch_size, d.serving.threads, d.serving.precision) == (64, 4, "int8")


def test_stopped_servers_count_only_within_the_window(toy: Store) -> None:
    gone = toy.servers.started(ELSEWHERE, [TOY1], actor="tester")
    toy.servers.stopped(gone, actor="tester")
    assert gather(toy, [], None).deployments == []
    (d,) = gather(toy, [], None, since=utcnow() - timedelta(days=14)).deployments
    assert d.version == "1"


def test_a_server_killed_on_this_machine_is_left_out_with_a_note(toy: Store) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = replace(ELSEWHERE, hostname=socket.gethostname(), pid=dead.pid)
    toy.servers.started(here, [TOY1], actor="tester")
    inventory = gather(toy, [], None)
    assert inventory.deployments == []
    assert f"(pid {dead.pid}) is gone without stopping cleanly" in inventory.notes[0]


def test_manifests_and_fleet_examples_together_are_unique() -> None:
    inventory = gather(None, [EXAMPLES / "k8s"], EXAMPLES / "fleet.yaml")
    sources = sorted({d.source for d in inventory.deployments})
    assert sources == ["fleet", "kserve", "kubernetes"]
    assert len(inventory.deployments) == 6
    assert inventory.notes == []


def test_a_described_version_wins_over_its_recorded_servers(toy: Store, tmp_path: Path) -> None:
    toy.servers.started(ELSEWHERE, [TOY1], actor="tester")
    fleet = tmp_path / "fleet.yaml"
    entry = {
        "name": "toy-prod",
        "model": "toy",
        "version": 1,
        "replicas": 3,
        "resources": {"cores": 1, "memory": "1Gi"},
    }
    fleet.write_text(yaml.safe_dump({"deployments": [entry]}))
    inventory = gather(toy, [], fleet)
    (d,) = inventory.deployments
    assert (d.name, d.source, d.replicas, d.resources.cores) == ("toy-prod", "fleet", 3, 1.0)
    assert d.instances == ("10.0.0.7:8000",)
    assert "taken as the replicas of toy-prod" in inventory.notes[0]


def test_one_version_in_a_manifest_and_the_fleet_is_refused(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    entry = {
        "name": "digits-vm",
        "model": "digits-classifier",
        "version": 3,
        "replicas": 1,
        "resources": {"cores": 1, "memory": "1Gi"},
    }
    fleet.write_text(yaml.safe_dump({"deployments": [entry]}))
    with pytest.raises(BadInput, match="both serve digits-classifier version 3") as info:
        gather(None, [EXAMPLES / "k8s" / "digits.yaml"], fleet)
    assert "\n" not in info.value.message


def test_nothing_given_is_an_empty_inventory(store: Store) -> None:
    assert gather(store, [], None).deployments == []
    assert gather(None, [], None).deployments == []


def test_a_real_baton_serve_is_in_the_inventory_until_it_stops(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, user="tester")
    store = open_store(settings)
    try:
        register_handover(store, write_handover(tmp_path / "toy"), actor="tester")
        env = clean_env(home, BATON_USER="tester")
        with serving(env, "toy", "--max-batch-size", "8") as url:
            inventory = gather(store, [], None)
            (d,) = inventory.deployments
            (server,) = store.servers.live()
        assert (d.model, d.version, d.replicas, d.source) == ("toy", "1", 1, "baton")
        assert d.instances == (url.removeprefix("http://"),)
        assert d.serving.max_batch_size == 8
        assert d.serving.workers == 1
        assert d.resources.cores == server.cores > 0
        assert d.resources.memory_bytes == server.memory_bytes > 0
        assert server.hostname == socket.gethostname()
        assert server.started_by == "tester"
        assert store.servers.live() == []  # SIGTERM marked it stopped
        assert store.servers.get(server.id).stopped_at is not None
        assert gather(store, [], None).deployments == []
    finally:
        store.close()


def test_a_hot_swap_updates_the_recorded_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = open_store(Settings(home=home, user="tester"))
    try:
        for seed in (1, 2):
            register_handover(
                store, write_handover(tmp_path / f"t{seed}", seed=seed), actor="tester"
            )
        store.registry.set_alias("toy", "production", 1, actor="tester")
        env = clean_env(home, BATON_USER="tester")
        with serving(env, "toy@production", "--poll-interval", "0.2"):
            (before,) = gather(store, [], None).deployments
            store.registry.set_alias("toy", "production", 2, actor="tester")
            deadline = time.monotonic() + 60
            while store.servers.live()[0].models[0].version != 2:
                assert time.monotonic() < deadline, "the swap was never recorded"
                time.sleep(0.1)
            (after,) = gather(store, [], None).deployments
        assert (before.version, after.version) == ("1", "2")
        assert store.servers.all()[0].models[0].alias == "production"
    finally:
        store.close()


def test_a_server_restarted_on_its_address_is_one_replica(toy: Store) -> None:
    toy.servers.started(ELSEWHERE, [TOY1], actor="tester")
    toy.servers.started(ELSEWHERE, [TOY1], actor="tester")  # the restart closes the first row
    since = utcnow() - timedelta(days=14)
    (d,) = gather(toy, [], None, since=since).deployments
    assert d.replicas == 1


def test_a_server_killed_before_the_window_is_left_out_of_it(toy: Store) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = replace(ELSEWHERE, hostname=socket.gethostname(), pid=dead.pid)
    toy.servers.started(here, [TOY1], actor="tester")
    later = gather(toy, [], None, since=utcnow() + timedelta(seconds=1))
    assert later.deployments == []
    assert "is gone without stopping cleanly" in later.notes[0]
    # started within the window: it served for part of it, so it counts
    (d,) = gather(toy, [], None, since=utcnow() - timedelta(days=1)).deployments
    assert d.replicas == 1


def test_a_gpu_server_is_priced_as_its_gpu(toy: Store) -> None:
    gpu = replace(ELSEWHERE, gpus=1, gpu_model="Tesla T4")
    toy.servers.started(gpu, [TOY1], actor="tester")
    (d,) = gather(toy, [], None).deployments
    assert (d.resources.gpus, d.resources.hardware) == (1, "nvidia-t4")


def test_a_shared_gpu_server_is_split_by_one_rule_whatever_its_source(
    toy: Store, tmp_path: Path
) -> None:
    """One server of two versions on one GPU, as baton recorded it and as its Kubernetes
    manifest describes it: each version gets half the CPU and memory and the whole GPU in
    both (issue 15, item 7; the manifest path used to round the GPU down to none)."""
    toy.servers.started(
        replace(ELSEWHERE, gpus=1, gpu_model="Tesla T4"), [TOY1, ServedModel("toy", 2)], "tester"
    )
    container = {
        "name": "server",
        "args": ["baton", "serve", "toy:1", "toy:2"],
        "resources": {
            "requests": {"cpu": "2", "memory": "4Gi"},
            "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1},
        },
    }
    pod = {"containers": [container], "nodeSelector": {"nvidia.com/gpu.product": "Tesla-T4"}}
    manifest = tmp_path / "shared.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "shared", "namespace": "prod"},
                "spec": {"replicas": 1, "template": {"spec": pod}},
            }
        )
    )
    recorded = gather(toy, [], None)
    described = gather(None, [manifest], None)
    for inventory in (recorded, described):
        shapes = [
            (r.cores, r.memory_bytes, r.cpu_limit, r.memory_limit_bytes, r.gpus, r.hardware)
            for r in (d.resources for d in inventory.deployments)
        ]
        assert shapes == [(1.0, 2 * GI, 1.0, 2 * GI, 1, "nvidia-t4")] * 2
        assert any("each is counted with all of its GPUs" in n for n in inventory.notes)


def test_a_server_that_ran_seconds_counts_for_seconds(toy: Store) -> None:
    """A server stopped right after it started neither costs a month nor halves the share
    of the server that ran all along (issue 14, item 7)."""
    free = replace(ELSEWHERE, cpu_limit=None, memory_limit_bytes=None)
    brief = toy.servers.started(replace(free, port=8001), [ServedModel("toy", 2)], "tester")
    toy.servers.stopped(brief, actor="tester")
    toy.servers.started(free, [TOY1], actor="tester")
    since = utcnow() - timedelta(days=14)
    inventory = gather(toy, [], None, since=since, until=utcnow() + timedelta(seconds=1))
    live, stopped = inventory.deployments
    assert (live.version, stopped.version) == ("1", "2")
    assert live.resources.cores == pytest.approx(4.0)  # its machine's 4 CPUs, not half
    assert live.resources.memory_bytes == pytest.approx(64 * GI)
    assert live.replicas_mean is None  # ran all the window that it was asked about
    assert stopped.replicas_mean is not None and stopped.replicas_mean < 1e-5
    assert any("toy:2: its server at 10.0.0.7:8001 ran" in n and "counted for that time" in n
               for n in inventory.notes)  # fmt: skip
    row = size_deployment(stopped, None, None, 100.0, None, SizingPolicy(), Prices())
    assert row.recommendation.monthly_cost_now is not None
    assert row.recommendation.monthly_cost_now < 0.01  # was a month of half the machine

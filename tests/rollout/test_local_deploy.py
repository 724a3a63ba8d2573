"""``baton deploy up | status | down`` on this machine, through the real command: the
@production version behind a router, each a background process recorded in the store,
its Prometheus target labelled with its variant; status checks every process; down
drains and stops them and frees the model; refusals are one line."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.config import Settings
from baton.core.deployment_records import Processes, ServerProcess, Variant
from baton.core.rollout_records import RolloutTarget
from baton.errors import Conflict
from baton.rollout import local_deploy, supervise, unrecorded
from baton.rollout.keeper_process import find_keeper, keeper_file, stop_keeper
from baton.rollout.unrecorded import Spawned
from baton.store.deployments import Deployments
from baton.store.registry import LogEntry
from baton.store.rollouts import NewRollout, Rollouts
from baton.store.store import Store
from tests.baton_cli import baton, clean_env
from tests.rollout.canary_world import canary_world
from tests.rollout.recorded import CANARY, ROUTER, STABLE, recorded
from tests.waiting import wait_until


def test_up_status_down(store: Store, tmp_path: Path) -> None:
    canary_world(store, tmp_path / "org")
    env = clean_env(tmp_path / "home", BATON_DB_URL=f"sqlite:///{tmp_path / 'b.db'}",
                    BATON_USER="sam")  # fmt: skip
    up = baton(env, "deploy", "up", "toy", "--json", "--why", "first deployment")
    assert up.returncode == 0, up.stderr
    record = json.loads(up.stdout)
    router, (stable,) = record["router"], record["processes"]["servers"]
    try:
        assert (stable["variant"], stable["version"]) == ("stable", 1)
        answer = httpx.post(f"{router['url']}/v2/models/toy/infer", timeout=30, json={
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                        "data": [0.1, 0.2, 0.3, 0.4]}]})  # fmt: skip
        assert answer.status_code == 200 and answer.headers["x-baton-variant"] == "stable"
        target = target_file(tmp_path / "home", stable["url"])
        labels = json.loads(target.read_text())[0]["labels"]
        assert (labels["variant"], labels["baton_deployment"]) == ("stable", "toy")
        assert Path(stable["log"]).parent == (tmp_path / "home" / "logs" / "toy").resolve()
        token = Path(router["token_file"])
        assert token.stat().st_mode & 0o777 == 0o600
        again = baton(env, "deploy", "up", "toy")
        assert again.returncode == 1 and "toy is already deployed" in again.stderr
        status = json.loads(baton(env, "deploy", "status", "--json").stdout)
        assert status[0]["router_running"] and status[0]["running"] == {"stable": True}
        assert status[0]["weights"] == {"stable": 100.0, "baseline": 0.0, "canary": 0.0}
        assert status[0]["keeper"] is True and status[0]["nothing_runs"] is False
        # the keeper would start the server again (test_keeper.py): status alone here
        stop_keeper(Settings(home=tmp_path / "home"), "toy")
        os.kill(stable["pid"], signal.SIGKILL)
        wait_until(lambda: not supervise.alive(stable["pid"], stable["started"]), "the kill")
        text = baton(env, "deploy", "status", "toy").stdout
        assert "stable    toy:1" in text and "not running" in text
        assert "keeper    not running" in text, text
    finally:
        down = baton(env, "deploy", "down", "toy", "--drain-timeout", "5")
    assert down.returncode == 0, down.stderr
    assert "stopped toy: its router and 1 server(s)" in down.stdout
    assert not target.exists()  # the killed server could not remove it: down did
    assert not supervise.alive(router["pid"], router["started"])
    assert Deployments(store.engine).active("toy") is None
    gone = baton(env, "deploy", "down", "toy")
    assert gone.returncode == 2 and "toy is not deployed here" in gone.stderr
    nothing = baton(env, "deploy", "status")
    assert nothing.returncode == 0 and "nothing deployed" in nothing.stdout


def test_up_after_a_reboot_starts_the_deployment_again(store: Store, tmp_path: Path) -> None:
    """A reboot kills the keeper, the router and the server at once: the record stays up
    and nothing runs. ``deploy up`` marks it down, saying why, and starts afresh."""
    canary_world(store, tmp_path / "org")
    env, home = sam(tmp_path)
    with deployed(env) as old:
        (server,) = old["processes"]["servers"]
        reboot(home, old)
        dead_target = target_file(home, server["url"])
        assert dead_target.exists()
        said = " ".join(baton(env, "deploy", "status", "toy").stdout.split())
        assert "nothing of it runs (the host restarted?): `baton deploy up toy`" in said, said
        (found,) = json.loads(baton(env, "deploy", "status", "--json").stdout)
        assert found["nothing_runs"] is True  # what a script reads to know up starts it again
        again = baton(env, "deploy", "up", "toy", "--json", "--why", "after the reboot")
        assert again.returncode == 0, again.stderr
        new = json.loads(again.stdout)
        assert new["id"] != old["id"]
        assert new["router"]["url"] == old["router"]["url"]  # its address was free: kept
        answer = httpx.post(f"{new['router']['url']}/v2/models/toy/infer", timeout=30, json={
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                        "data": [0.1, 0.2, 0.3, 0.4]}]})  # fmt: skip
        assert answer.status_code == 200
        assert not dead_target.exists()
        assert target_file(home, new["processes"]["servers"][0]["url"]).exists()
        retired = Deployments(store.engine).get(old["id"])
        assert not retired.up and retired.stopped_by == "sam"
        log = baton(env, "log", "--json").stdout
        assert "none of its processes was running (the host restarted" in log


def test_up_after_a_reboot_says_so_when_the_routers_address_was_taken(
    store: Store, tmp_path: Path
) -> None:
    canary_world(store, tmp_path / "org")
    env, home = sam(tmp_path)
    with deployed(env) as old:
        reboot(home, old)
        with port_taken(old["router"]["url"]):  # by another process, while it was down
            again = baton(env, "deploy", "up", "toy")
        assert again.returncode == 0, again.stderr
        said = " ".join(again.stdout.split())
        (new,) = json.loads(baton(env, "deploy", "status", "--json").stdout)
        moved = new["deployment"]["router"]["url"]
        assert moved != old["router"]["url"]
        assert f"the router moved: {old['router']['url']} was taken" in said, said
        assert f"it listens at {moved} now" in said


def test_nothing_runs_here_only_when_every_process_and_the_keeper_died(
    store: Store, tmp_path: Path
) -> None:
    canary_world(store, tmp_path / "org")
    settings = Settings(home=tmp_path / "home", user="sam")
    record = recorded(store)  # its processes are long gone; no keeper was ever started
    assert local_deploy.nothing_runs_here(settings, record)
    me = ServerProcess(pid=os.getpid(), started=supervise.start_ticks(os.getpid()),
                       url="http://127.0.0.1:9009", log="s.log", variant=Variant.STABLE,
                       version=1)  # fmt: skip
    serving = replace(record, processes=Processes(servers=(STABLE, me)))
    assert not local_deploy.nothing_runs_here(settings, serving)
    assert not local_deploy.nothing_runs_here(settings, replace(record, hostname="elsewhere"))
    path = keeper_file(settings, "toy")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": me.pid, "started": me.started,
                                "deployment": record.id, "log": "k.log"}))  # fmt: skip
    assert not local_deploy.nothing_runs_here(settings, record)  # its keeper restarts them


def test_up_after_a_reboot_mid_canary_starts_what_the_record_names_and_a_keeper(
    store: Store, tmp_path: Path
) -> None:
    """The resume as recorded (the canary's part is test_canary_adopt.py): the stable
    server at its recorded version, a router on the recorded address (with a new admin
    token when the reboot took the old file), both recorded and audited, and the keeper
    that hands the rollout to a controller. Nothing is marked down."""
    canary_world(store, tmp_path / "org")
    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}",
                        user="sam")  # fmt: skip
    record = recorded(store, STABLE, CANARY)  # ROUTER's token file "t" does not exist
    Rollouts(store.engine).start(NewRollout(model="toy", from_version=1, to_version=2,
                                            baseline_version=1), "sam")  # fmt: skip
    back = local_deploy.up(local_deploy.Launch(settings), store, "toy", None)
    try:
        assert back.id == record.id and back.up
        stable = back.server(Variant.STABLE)
        assert stable is not None and stable.version == 1 and stable.pid != STABLE.pid
        assert supervise.alive(back.router.pid, back.router.started)
        assert Path(back.router.token_file).is_file() and back.router.token_file != "t"
        assert back.server(Variant.CANARY) == CANARY  # the controller starts it again
        keeper = find_keeper(settings, "toy")
        assert keeper is not None and keeper.running() and keeper.deployment == record.id
        actions = [(e.action, e.reason) for e in store.registry.log_entries("toy", 20)]
        assert ("deploy.router.restart", local_deploy.GONE_MID_CANARY) in actions
        assert ("deploy.change", local_deploy.GONE_MID_CANARY) in actions
    finally:
        stop_keeper(settings, "toy")
        local_deploy.stop_processes([back.router, *back.processes.servers], 10)


def test_up_after_a_reboot_mid_a_kserve_canary_says_to_end_it_first(
    store: Store, tmp_path: Path
) -> None:
    """Only a local canary is brought back with its deployment (test_canary_adopt.py): for
    one on another platform, up leaves the record alone and names the way out."""
    canary_world(store, tmp_path / "org")
    settings = Settings(home=tmp_path / "home", user="sam")
    record = recorded(store, STABLE, CANARY)
    Rollouts(store.engine).start(NewRollout(model="toy", from_version=1, to_version=2,
                                            baseline_version=1, target=RolloutTarget.KSERVE),
                                 "sam")  # fmt: skip
    with pytest.raises(Conflict) as refused:
        local_deploy.up(local_deploy.Launch(settings), store, "toy", "after the reboot")
    assert refused.value.message == (
        f"nothing of {record.summary()} runs (the host restarted?), and rollout #1 of toy "
        "(1 -> 2) is initializing: `baton canary abort toy --why ...` ends it, then "
        "`baton deploy up toy`"
    )
    assert Deployments(store.engine).get(record.id) == record
    assert not (tmp_path / "home" / "logs").exists()  # nothing was started


def sam(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment of sam's commands (a SQLite store, a home under ``tmp_path``)."""
    home = tmp_path / "home"
    return clean_env(home, BATON_DB_URL=f"sqlite:///{tmp_path / 'b.db'}", BATON_USER="sam"), home


@contextmanager
def deployed(env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """``deploy up toy --json``'s record; whatever runs of it is taken down afterwards."""
    first = baton(env, "deploy", "up", "toy", "--json")
    assert first.returncode == 0, first.stderr
    try:
        yield json.loads(first.stdout)
    finally:
        baton(env, "deploy", "down", "toy", "--drain-timeout", "5")


def test_port_taken_holds_a_port_that_a_client_connection_had_for_a_moment() -> None:
    """The helper's own bug: with a neighbour's connection on the port, it held nothing,
    and baton found the port free once that connection had closed."""
    with socket.create_server(("127.0.0.1", 0)) as peer:
        client = socket.create_connection(peer.getsockname())
        served, _ = peer.accept()
        port = client.getsockname()[1]

        def hang_up() -> None:  # the server first: the client's end leaves no TIME_WAIT
            served.close()
            time.sleep(0.05)
            client.close()

        closer = threading.Timer(0.3, hang_up)
        closer.start()
        try:
            with port_taken(f"http://127.0.0.1:{port}"):
                time.sleep(0.6)  # the connection has gone by now
                with pytest.raises(OSError, match="Address already in use"):
                    socket.create_server(("127.0.0.1", port)).close()
        finally:
            closer.join()


@contextmanager
def port_taken(url: str) -> Iterator[None]:
    """Another process listening on ``url``'s port. The port was just freed, so a test
    running beside this one may have it as a client connection's local port; then this
    waits until it can listen there itself, which can take the minute of the connection's
    TIME_WAIT. (It once counted that as taken and held nothing: the connection closed, and
    baton found the port free.)"""
    host, port = url.removeprefix("http://").rsplit(":", 1)

    def listen() -> socket.socket | None:
        try:
            return socket.create_server((host, int(port)))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            return None

    with wait_until(listen, f"{url}'s port to be free to listen on", timeout=120, every=0.05):
        yield


def reboot(home: Path, record: dict[str, Any]) -> None:
    """What a reboot does to ``deploy up --json``'s deployment: every process killed at
    once, the keeper first (it would start the rest again)."""
    keeper = find_keeper(Settings(home=home), record["model"])
    assert keeper is not None
    kept = {"pid": keeper.pid, "started": keeper.started}
    for process in (kept, record["router"], *record["processes"]["servers"]):
        os.kill(process["pid"], signal.SIGKILL)
        wait_until(lambda p=process: not supervise.alive(p["pid"], p["started"]), "a kill")


def target_file(home: Path, url: str) -> Path:
    """Where a server on ``url`` lists itself for Prometheus."""
    return home / "monitor" / "targets" / (url.removeprefix("http://").replace(":", "_") + ".json")


def test_a_processs_address_is_read_from_its_url_in_one_place(store: Store, tmp_path: Path) -> None:
    """The keeper's launch host, the router's port and the target files all read it here;
    an IPv6 host loses the brackets a URL needs and a socket must not get."""
    canary_world(store, tmp_path / "org")
    v6 = ROUTER.model_copy(update={"url": "http://[::1]:8089"})
    assert local_deploy.host_port(ROUTER) == ("127.0.0.1", 8088)
    assert local_deploy.host_port(v6) == ("::1", 8089)
    assert local_deploy.router_port(recorded(store, STABLE, router=v6)) == 8089


def test_up_needs_a_production_version(store: Store, tmp_path: Path) -> None:
    from baton.handover.register import register_handover
    from tests.handover_factory import write_handover

    register_handover(store, write_handover(tmp_path / "toy"), actor="t")
    env = clean_env(tmp_path / "home", BATON_DB_URL=f"sqlite:///{tmp_path / 'b.db'}")
    done = baton(env, "deploy", "up", "toy")
    assert done.returncode == 2 and "production" in done.stderr, done.stderr
    assert not (tmp_path / "home" / "logs").exists()


def killed_starting_up(env: dict[str, str], home: Path) -> Spawned:
    """``deploy up toy`` killed (SIGKILL) once it has started the stable server, before it
    could record it: the server goes on starting, known to nothing but its entry."""
    command = [sys.executable, "-m", "baton.cli.main", "deploy", "up", "toy"]
    up = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (path,) = wait_until(lambda: list(unrecorded.folder(Settings(home=home), "toy").glob(
            "*.json")), "deploy up to start a server", timeout=120, every=0.01)  # fmt: skip
    finally:
        up.kill()
        up.wait()
    entry = Spawned(**json.loads(path.read_text()))
    assert entry.starter_pid == up.pid and supervise.alive(entry.pid, entry.started)
    return entry


def test_a_deploy_up_killed_before_it_recorded_leaves_no_server_behind(
    store: Store, tmp_path: Path
) -> None:
    """The next ``deploy up`` stops it, and the audit log says who started it."""
    canary_world(store, tmp_path / "org")
    env, home = sam(tmp_path)
    orphan = killed_starting_up(env, home)
    up = baton(env, "deploy", "up", "toy", "--json")
    try:
        assert up.returncode == 0, up.stderr
        assert not supervise.alive(orphan.pid, orphan.started)
        record = json.loads(up.stdout)
        assert orphan.pid not in [s["pid"] for s in record["processes"]["servers"]]
        said = " ".join(up.stderr.split())  # a warning: stdout stays the record's JSON
        assert f"the stable server of toy:1 (pid {orphan.pid}, started by pid " in said, said
    finally:
        baton(env, "deploy", "down", "toy", "--drain-timeout", "5")
    (audited,) = [e for e in store.registry.log_entries("toy", limit=50)
                  if e.action == "deploy.strays.stop"]  # fmt: skip
    assert audited.actor == "sam"
    assert audited.detail["stopped"] == [
        {"pid": orphan.pid, "what": "the stable server of toy:1", "starter": orphan.starter_pid}
    ]
    assert f"pid {orphan.starter_pid} started and died before recording" in (audited.reason or "")


def test_deploy_down_stops_what_a_killed_deploy_up_started(store: Store, tmp_path: Path) -> None:
    canary_world(store, tmp_path / "org")
    env, home = sam(tmp_path)
    orphan = killed_starting_up(env, home)
    down = baton(env, "deploy", "down", "toy")
    assert down.returncode == 2
    said = " ".join(down.stderr.split())
    assert (
        f"toy is not deployed here (stopped the stable server of toy:1 (pid {orphan.pid}, " in said
    )
    assert "started by a baton command that died before it recorded them)" in said, said
    assert not supervise.alive(orphan.pid, orphan.started)
    again = baton(env, "deploy", "down", "toy")  # nothing left: the usual refusal
    assert "toy is not deployed here: `baton deploy status`" in again.stderr, again.stderr


def test_the_keeper_stops_what_a_dead_starter_left_unrecorded(store: Store, tmp_path: Path) -> None:
    """A keeper or canary controller killed between a start and its record leaves an entry
    like this one; the keeper's next look stops the process and audits it as its own act."""
    from tests.rollout.test_unrecorded import died_starting

    canary_world(store, tmp_path / "org")
    env, home = sam(tmp_path)
    pids: list[int] = []
    with deployed(env) as record:
        orphan = died_starting(Settings(home=home), pids)

        def audited() -> list[LogEntry]:
            entries = store.registry.log_entries("toy", limit=50)
            return [e for e in entries if e.action == "deploy.strays.stop"]

        (entry,) = wait_until(audited, "the keeper's sweep")
        assert entry.actor.startswith("keeper:")
        assert entry.detail["stopped"][0]["pid"] == orphan.pid
        assert not supervise.alive(orphan.pid, orphan.started)
        now = Deployments(store.engine).get(record["id"])
        assert now.revision == record["revision"]  # the deployment itself untouched
    for pid in pids:
        supervise.stop(pid, None, grace_s=1)


def test_down_reads_again_a_record_a_finishing_controller_changed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after ``canary abort``, the controller stops the canary and changes the record
    while ``down`` drains the router: down stops what the new record names and closes it
    (it was a stale-revision 409)."""
    canary_world(store, tmp_path / "org")
    deployments = Deployments(store.engine)
    deployment_id = recorded(store, STABLE, CANARY).id
    stopped: list[list[str]] = []
    stop_processes = local_deploy.stop_processes

    def stop_as_the_controller_tidies(processes: list[Any], grace_s: float, *settings: Any) -> None:
        stop_processes(processes, grace_s, *settings)
        stopped.append([getattr(p, "variant", "router") for p in processes])
        if len(stopped) == 1:  # the controller's tidy lands while the router drains
            now = deployments.get(deployment_id)
            deployments.change(deployment_id, now.processes.without(Variant.CANARY),
                               revision=now.revision, actor="controller:h:1",
                               reason="rollout #1 rolled back: stopped canary")  # fmt: skip

    monkeypatch.setattr(local_deploy, "stop_processes", stop_as_the_controller_tidies)
    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}",
                        user="sam")  # fmt: skip
    done = local_deploy.down(local_deploy.Launch(settings), store, "toy", "done")
    assert not done.up and done.stopped_by == "sam"
    assert [p.variant for p in done.processes.servers] == [Variant.STABLE]
    assert stopped[:2] == [["router"], [Variant.STABLE, Variant.CANARY]]
    assert stopped[-1] == [Variant.STABLE]  # read again: what the new record names
    assert deployments.active("toy") is None

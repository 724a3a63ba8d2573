"""Deployments on record whose processes are long gone (``started=1`` matches no process):
for tests of what reads and changes the record without running servers."""

from __future__ import annotations

import socket

from baton.core.deployment_records import (
    DeploymentRecord,
    Processes,
    RouterProcess,
    ServerProcess,
    Variant,
)
from baton.store.deployments import Deployments, NewDeployment
from baton.store.store import Store

ROUTER = RouterProcess(pid=4242, started=1, url="http://127.0.0.1:8088", log="r.log",
                       token_file="t")  # fmt: skip
STABLE = ServerProcess(pid=5, started=1, url="http://127.0.0.1:9001", log="s.log",
                       variant=Variant.STABLE, version=1)  # fmt: skip
CANARY = ServerProcess(pid=6, started=1, url="http://127.0.0.1:9003", log="c.log",
                       variant=Variant.CANARY, version=2)  # fmt: skip


def recorded(
    store: Store, *servers: ServerProcess, router: RouterProcess = ROUTER
) -> DeploymentRecord:
    """``toy`` deployed on this host, by sam, with ``servers`` (the stable one alone if
    none is given) behind ``router``."""
    processes = Processes(servers=servers or (STABLE,))
    new = NewDeployment("toy", socket.gethostname(), router, processes)
    return Deployments(store.engine).up(new, "sam")

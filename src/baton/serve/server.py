"""Run the server: uvicorn (uvloop + httptools), one or more worker processes, one port.

SIGTERM (and Ctrl-C) stop accepting connections, let in-flight requests finish (up to
``drain_timeout_s``), drain every model's queue, then exit with status 0.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import replace

import uvicorn

from baton.config import Settings
from baton.core.refs import parse_ref
from baton.errors import BadInput
from baton.serve import discovery
from baton.serve.app import ServeApp
from baton.serve.grpc_server import check_free
from baton.serve.guard import raise_descriptor_limit
from baton.serve.listen import WorkerSocket as WorkerSocket  # where `--workers` tests find it
from baton.serve.listen import bind as bind  # `baton quickstart` imports it from here
from baton.serve.listen import exit_quietly_on_sigterm, guarded_config, run_until_stopped
from baton.serve.loader import verified_model
from baton.serve.options import ServeOptions, ServingPlan, serving_plan
from baton.serve.ready import ReadyServer
from baton.serve.recorded import RecordedServer
from baton.serve.source import open_source
from baton.store.registry import VersionInfo

Announce = Callable[[int], None]  # called with the bound port once the server serves


def check_refs(settings: Settings, options: ServeOptions) -> list[tuple[VersionInfo, ServingPlan]]:
    """Resolve every reference, plan it and verify its files before binding the port, so a
    typo, a missing int8 copy or a damaged file fails in one line."""
    refs = [parse_ref(text) for text in options.refs]
    store = open_source(settings, options)
    try:
        planned = []
        for ref in refs:
            info = store.registry.resolve(ref)
            plan = serving_plan(store, info, options)
            verified_model(store, info, plan.config)
            planned.append((info, plan))
        return planned
    finally:
        store.close()


def uvicorn_config(app: ServeApp, options: ServeOptions, *, loop: str = "uvloop") -> uvicorn.Config:
    """uvicorn (httptools) with the port's limits (serve/guard.py), ``--workers`` of them."""
    return guarded_config(app, options, loop=loop, workers=options.workers)


class AnnouncingServer(ReadyServer):
    """uvicorn's server, announcing itself only once it serves (once its models are loaded),
    and stopping the app's gRPC front with its HTTP one."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        if isinstance(app, ServeApp) and app.grpc is not None:
            app.grpc.drain()  # gRPC stops taking calls when HTTP does; in-flight ones finish
        await super().shutdown(sockets=sockets)


def serve(
    settings: Settings,
    options: ServeOptions,
    *,
    announce: Announce | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until SIGTERM / Ctrl-C (blocking). ``sock``: already bound by the caller;
    ``announce`` runs once the port is ours and the models are loaded (with several
    workers, once the port is ours: each worker loads its own)."""
    if options.workers > 1 and 0 in (options.port, options.grpc_port):
        raise BadInput("--workers above 1 needs a fixed --port (and --grpc-port)")
    raise_descriptor_limit()  # the connection cap follows it (workers inherit it)
    sock = sock or bind(options)
    if options.grpc_port is not None:
        check_free(options.host, options.grpc_port)
    port = sock.getsockname()[1]

    def said() -> None:
        if announce is not None:
            announce(port)

    exit_quietly_on_sigterm()
    # a model folder's server (a container) has no registry to record it in, and is
    # found by its platform's scrape configuration rather than BATON_HOME's target files
    local = options.model_dir is None
    targets = settings.scrape_targets
    target = discovery.register(targets, options.host, port, list(options.refs)) if local else None
    record: RecordedServer | None = None
    try:
        if local:  # decides what every worker serves; the app(s) follow
            record = RecordedServer(settings, options, port)
            options = record.options
        if options.workers > 1:
            said()
            _serve_workers(settings, options, sock)
            return
        server = AnnouncingServer(uvicorn_config(ServeApp(settings, options), options), said)
        run_until_stopped(server, sock, "the server")
    finally:
        if record is not None:
            record.stop()
        if target is not None:
            discovery.unregister(target)


def _serve_workers(settings: Settings, options: ServeOptions, sock: socket.socket) -> None:
    """N spawned processes, each listening on its own SO_REUSEPORT socket for the port
    (``WorkerSocket``), share their metrics through files."""
    from uvicorn.supervisors import Multiprocess

    folder = tempfile.mkdtemp(prefix="baton-metrics-")
    # prometheus-client reads this when a worker imports it (workers are spawned afresh)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        app = ServeApp(settings, replace(options, metrics_dir=folder))
        Multiprocess(uvicorn_config(app, options), sockets=[sock]).run()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""A server's decider and its row in the store (the audit's inventory).

It runs in the process that starts the server (the parent of ``--workers``): it resolves
what to serve, publishes each decision for the workers (serve/board.py), answers their
load and unload requests, and records in the store what the workers say they serve, once
every worker has applied the decision. It marks the server stopped on the way out.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import replace

from baton.config import Settings
from baton.core.refs import parse_ref
from baton.errors import BatonError
from baton.serve import discovery
from baton.serve.board import Board, Report
from baton.serve.decider import Decider
from baton.serve.decision import Decision
from baton.serve.options import ServeOptions, serving_plan
from baton.serve.process_metrics import read_gpus, read_limits
from baton.serve.repository import alias_label
from baton.store.servers import ServedModel, ServerFacts
from baton.store.store import Store, open_store

log = logging.getLogger("baton.serve")

TICK_S = 0.05  # how often load / unload requests and workers' reports are looked at


class RecordedServer:
    """Start it before the workers (their first decision is published here); ``options``
    then names the folder the workers follow. ``stop`` when the server stops."""

    def __init__(self, settings: Settings, options: ServeOptions, port: int) -> None:
        self.actor = settings.user
        self.store: Store = open_store(settings)
        self._folder = None if options.decisions_dir else tempfile.mkdtemp(prefix="baton-serve-")
        self.options = replace(options, decisions_dir=options.decisions_dir or self._folder)
        assert self.options.decisions_dir is not None
        self.board = Board(self.options.decisions_dir)
        try:
            self.decider = Decider(self.store, [parse_ref(text) for text in options.refs])
            decision = self.decider.first()
            self.board.publish(decision)
            self.id = self.store.servers.started(
                self._facts(port), self._planned(decision), self.actor
            )
        except BaseException:
            self._close()
            raise
        self.recorded = 0  # the newest decision the record shows the workers' answer to
        self._disagreed = 0
        self.rounds = 0  # rounds done: a test waits for one after a change, never a fixed time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="baton-decider", daemon=True)
        self._thread.start()

    def _facts(self, port: int) -> ServerFacts:
        limits = read_limits()
        gpus, gpu_model = read_gpus()
        return ServerFacts(
            host=discovery.advertised(self.options.host),
            port=port,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            workers=self.options.workers,
            cpu_affinity=limits.cpu_affinity,
            cpu_limit=limits.cpu_limit,
            memory_limit_bytes=limits.memory_limit_bytes,
            memory_total_bytes=limits.memory_total_bytes,
            gpus=gpus,
            gpu_model=gpu_model,
        )

    def _planned(self, decision: Decision) -> list[ServedModel]:
        """What the workers are about to load, with the batch size, threads and precision."""
        served = []
        for target in decision.targets:
            info = self.store.registry.resolve(target.pinned)
            config = serving_plan(self.store, info, self.options).config
            served.append(
                ServedModel(
                    info.model,
                    info.number,
                    alias_label(target.ref, info) or None,
                    max_batch_size=config.max_batch_size,
                    threads=config.intra_op_threads,
                    precision=config.precision,
                )
            )
        return served

    def _run(self) -> None:
        every = self.options.poll_interval_s
        due = time.monotonic() + every
        while not self._stop.wait(TICK_S):
            try:
                asks = self.board.take_asks()
                polled = every > 0 and time.monotonic() >= due
                if polled:
                    due = time.monotonic() + every
                if asks or polled:
                    before = self.decider.decision
                    if self.decider.decide(asks) is not before:
                        self.board.publish(self.decider.decision)
                self._record(self.board.reports())
            except Exception:  # the decider keeps going: the store may come back
                log.exception("the server's decider failed a round")
            self.rounds += 1

    def _record(self, reports: list[Report]) -> None:
        """Record what the workers serve once they all applied the newest decision."""
        newest = self.decider.decision.generation
        if self.recorded >= newest:
            return
        done = [r for r in reports if r.generation >= newest]
        if len(done) < self.options.workers:
            return
        answers = {r.models for r in done}
        if len(answers) > 1:  # a worker failed to load what the others did: it says why
            if self._disagreed != newest:
                log.warning("the workers serve different versions: %s", sorted(answers))
            self._disagreed = newest
            return
        self.store.servers.update_models(self.id, list(answers.pop()), self.actor)
        self.recorded = newest

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.store.servers.stopped(self.id, self.actor)
        except BatonError as exc:
            print(f"baton serve: could not mark the server stopped: {exc.message}", file=sys.stderr)
        finally:
            self._close()

    def _close(self) -> None:
        self.store.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

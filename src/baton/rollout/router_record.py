"""A router's row in the store: recorded when it starts, at each weight change, at its stop.

The row sits in the ``servers`` table with role ``router`` (store/servers.py), so the
same listing shows every process baton started, and a router killed without a word is
closed by the next process that takes its address, as a server's is. Each applied weight
change is written with the generation, the weights before and after, the servers, and
who asked for it and why (as the caller said: the admin token names no one).
"""

from __future__ import annotations

import os
import socket
import sys

from baton.config import Settings
from baton.errors import BatonError
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_state import Change, RouteTable, Saved, starting
from baton.rollout.weights import VARIANTS, Weights
from baton.serve import discovery
from baton.serve.process_metrics import read_limits
from baton.store.servers import RoutedVariant, Routing, ServerFacts
from baton.store.store import Store, open_store


def routing_of(
    options: RouterOptions, generation: int, weights: Weights, urls: dict[str, str | None]
) -> Routing:
    variants = tuple(RoutedVariant(v, urls.get(v), weights.of(v)) for v in VARIANTS)
    return Routing(options.model, generation, variants, options.sticky_header)


class RecordedRouter:
    """Open the store and record the router; ``changed`` per weight change; ``stop``."""

    def __init__(
        self, settings: Settings, options: RouterOptions, port: int, saved: Saved | None = None
    ) -> None:
        self.actor = settings.user
        self.options = options
        self.store: Store = open_store(settings)
        try:
            limits = read_limits()
            facts = ServerFacts(
                host=discovery.advertised(options.host),
                port=port,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                workers=1,
                cpu_affinity=limits.cpu_affinity,
                cpu_limit=limits.cpu_limit,
                memory_limit_bytes=limits.memory_limit_bytes,
                memory_total_bytes=limits.memory_total_bytes,
            )
            start = starting(options, saved)
            urls: dict[str, str | None] = dict(start.upstreams)
            routing = routing_of(options, start.generation, start.weights, urls)
            self.id = self.store.servers.started(facts, [], self.actor, routing=routing)
        except BaseException:
            self.store.close()
            raise

    def changed(self, table: RouteTable, change: Change) -> None:
        """Record an applied change (called from a thread: the store's calls block)."""
        routing = routing_of(self.options, table.generation, table.weights, table.urls)
        self.store.servers.update_routing(
            self.id, routing, self.actor, by=change.by, reason=change.reason
        )

    def stop(self) -> None:
        try:
            self.store.servers.stopped(self.id, self.actor)
        except BatonError as exc:
            print(f"baton router: could not mark it stopped: {exc.message}", file=sys.stderr)
        finally:
            self.store.close()

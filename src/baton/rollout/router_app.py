"""The router's raw ASGI application: V2 passed on per weight, health, metrics, admin.

Routes (everything else is 404):

- ``/v2/models/{model}/...`` and ``/v2``, ``/v2/models/stats``, ``/v2/repository/index``:
  passed on to the variant the weights pick. Only ``.../infer`` calls count as requests in
  the router's metrics (as only they do in ``baton serve``'s). Loading and unloading
  (``/v2/repository/models/...``) are refused: they belong to each version's server.
- ``/v2/health/live``: the router runs. ``/v2/health/ready``: every variant with weight
  above 0 has the model ready (asked of its server each time).
- ``/metrics``: the router's own (router_metrics.py).
- ``GET /router/weights``: the weights, servers and generation applied now.
  ``PUT /router/weights``: change them (the admin token, serve's check), atomically.

Overload is answered as ``baton serve`` answers it: beyond ``max_inflight`` requests
passed on at once, 429 with ``Retry-After``; the port's own limits come from the server
guard (serve/guard.py). A variant that takes no connection sends its request to another
variant with weight (stable first) when ``failover`` is on; otherwise, or when none can
take it, the answer is 502 with a V2 error; a variant too slow to answer, 504.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import quote

import orjson
from prometheus_client import CollectorRegistry

from baton.core.metric_names import CLIENT_CLOSED, REQUEST_TIMEOUT, ROUTER_NO_VARIANT
from baton.errors import BatonError, Conflict, Forbidden, Kind, NotFound, Unavailable
from baton.rollout import router_state_file
from baton.rollout.router_metrics import CONTENT_TYPE, RouterMetrics
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_proxy import Intake, ResponseCut, exchange, relay, take_body
from baton.rollout.router_state import (
    Change,
    RouteTable,
    Saved,
    first_table,
    newly_routed,
    next_table,
    parse_change,
    saved_from,
)
from baton.rollout.router_upstream import Upstream, UpstreamError
from baton.rollout.weights import sticky_point
from baton.serve.app import admin_digest, check_admin
from baton.serve.asgi import (
    Headers,
    MethodNotAllowed,
    Overloaded,
    Receive,
    Scope,
    Send,
    allow,
    freeze_startup_heap,
    refusal_headers,
    run_lifespan,
    status_for,
)
from baton.serve.codec import encode_error
from baton.serve.intake import BodyBudget, ClientGone, header, read_body

log = logging.getLogger("baton.router")

JSON = b"application/json"
ADMIN_OFF = (
    "weight changes are off on this router: start it with --admin-token-file (or "
    "BATON_ROUTER_ADMIN_TOKEN) to allow them"
)
MAX_CHANGE_BYTES = 64 * 1024
PROBE_TIMEOUT_S = 2.0
FAILOVER_ORDER = ("stable", "baseline", "canary")
Recorder = Callable[[RouteTable, Change], None]  # runs in a thread: it writes the store


class TooBusy(Overloaded):
    """More requests are being passed on than the router takes at once (429)."""


class VariantFailed(BatonError):
    """A variant's server failed the exchange: 502, or 504 when it was too slow."""

    kind = Kind.UNAVAILABLE

    def __init__(self, variant: str, exc: UpstreamError) -> None:
        super().__init__(f"the {variant} variant failed: {exc}")
        self.status = 504 if exc.reason == "timeout" else 502


class RouterApp:
    """The ASGI application of ``baton router``."""

    def __init__(
        self,
        options: RouterOptions,
        *,
        registry: CollectorRegistry | None = None,
        recorder: Recorder | None = None,
        saved: Saved | None = None,
        tune_gc: bool = True,
    ) -> None:
        self.options = options  # the server guard reads the port limits here
        self.saved = saved  # the state file's table, which the router starts from
        self.metrics = RouterMetrics(registry or CollectorRegistry())
        self.metrics.inflight.set_function(lambda: self.inflight)  # read at scrape time
        self.recorder = recorder
        self.table: RouteTable | None = None
        self.inflight = 0
        self._rng = random.Random(options.seed)
        self._budget = BodyBudget(options.body_budget)
        self._digest = admin_digest(options.admin_token)
        self._sticky = options.sticky_key
        self._model_prefix = f"/v2/models/{options.model}"
        self._changing = asyncio.Lock()
        self._tune_gc = tune_gc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await run_lifespan(receive, send, self.start, self.stop)

    async def start(self) -> None:
        """The table of the command line (or the state file's), its pools on this event
        loop (they belong to one)."""
        self.table = first_table(self.options, self.saved)
        self.metrics.weights(self.table.weights)
        if self._tune_gc:  # as baton serve does: no long full collections
            freeze_startup_heap()

    async def stop(self) -> None:
        if self.table is not None:
            for pool in self.table.upstreams.values():
                pool.close()

    # -- HTTP -------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        try:
            if path.startswith(self._model_prefix):
                rest = path[len(self._model_prefix) :]
                if rest[:1] in ("", "/"):
                    await self._pass(scope, receive, send, rest.endswith("/infer"))
                    return
            status, body, extra = await self._route(scope, receive, send, path)
        except BatonError as exc:
            status, body, extra = _refusal(exc)
        except ClientGone:
            return
        if status:
            await _respond(send, status, body, extra)

    async def _route(
        self, scope: Scope, receive: Receive, send: Send, path: str
    ) -> tuple[int, bytes, Headers]:
        """The routes that are not the model's (status 0: the answer was passed on)."""
        method: str = scope["method"]
        if path in ("/v2", "/v2/", "/v2/models/stats", "/v2/repository/index"):
            await self._pass(scope, receive, send, False)
            return 0, b"", []
        if path == "/v2/health/live":
            allow(method, "GET")
            return 200, orjson.dumps({"live": True}), []
        if path == "/v2/health/ready":
            allow(method, "GET")
            found = await self.ready()
            ready = all(found.values())
            return (200 if ready else 503), orjson.dumps({"ready": ready, "variants": found}), []
        if path == "/metrics":
            allow(method, "GET")
            return 200, self.metrics.exposition(), [(b"content-type", CONTENT_TYPE)]
        if path == "/router/weights":
            allow(method, "GET", "PUT")
            if method == "PUT":
                return 200, orjson.dumps(await self._change(scope, receive)), []
            return 200, orjson.dumps(self._table().document(self.options)), []
        if path.startswith("/v2/repository/models/"):
            raise Forbidden(
                "the router does not load or unload models: ask each version's `baton serve`"
            )
        if path.startswith("/v2/models/"):
            raise NotFound(
                f"this router fronts model {self.options.model} only: send "
                f"{self._model_prefix}/infer"
            )
        raise NotFound(f"no route {path}: the router passes on {self._model_prefix}/... (V2)")

    def _table(self) -> RouteTable:
        if self.table is None:
            raise Unavailable("the router is starting: retry shortly")
        return self.table

    # -- passing requests on ----------------------------------------------------------------

    def _pick(self, scope: Scope, table: RouteTable) -> str:
        key = self._sticky
        if key is not None:
            for name, value in scope["headers"]:
                if name == key:
                    return table.split.pick(sticky_point(value))
        return table.split.pick(self._rng.random())

    async def _pass(self, scope: Scope, receive: Receive, send: Send, counted: bool) -> None:
        """Pass one request on and its answer back; count it when ``counted`` (infer)."""
        started = time.perf_counter()
        variant = ROUTER_NO_VARIANT
        code = 500
        answered = True
        method = scope["method"]
        if method != "GET" and method != "POST":
            raise MethodNotAllowed(f"use GET or POST here, not {method}")
        if self.inflight >= self.options.max_inflight:
            if counted:
                self.metrics.count(variant, 429, time.perf_counter() - started)
            raise TooBusy(
                f"the router is passing on {self.inflight} requests, its most at once "
                "(--max-inflight): retry shortly"
            )
        self.inflight += 1
        intake = None
        try:
            intake = await take_body(scope, receive, self.options.max_body_bytes, self._budget)
            table = self._table()
            variant = self._pick(scope, table)
            variant, code = await self._forward(scope, receive, send, table, variant, intake)
        except ClientGone as gone:
            code, answered = (REQUEST_TIMEOUT if gone.timed_out else CLIENT_CLOSED), False
            raise
        except ResponseCut:
            code = 502
            raise
        except BatonError as exc:
            code = _status(exc)
            raise
        finally:
            if intake is not None:
                self._budget.release(intake.held)
            self.inflight -= 1
            if counted:
                elapsed = time.perf_counter() - started if answered else None
                self.metrics.count(variant, code, elapsed)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        table: RouteTable,
        variant: str,
        intake: Intake,
    ) -> tuple[str, int]:
        """Exchange with ``variant``'s server (another's, when it takes no connection)."""
        tried: list[UpstreamError] = []
        for candidate in self._candidates(table, variant):
            upstream = table.upstreams[candidate]
            try:
                connection = await exchange(scope, receive, upstream, intake)
            except UpstreamError as exc:
                self.metrics.upstream_error(candidate, exc.reason)
                if exc.reason != "connect":
                    raise VariantFailed(candidate, exc) from None
                tried.append(exc)
                continue
            try:
                return candidate, await relay(connection, send, candidate.encode())
            except ResponseCut:
                self.metrics.upstream_error(candidate, "reset")
                raise
        raise VariantFailed(variant, tried[0])

    def _candidates(self, table: RouteTable, variant: str) -> Iterator[str]:
        """The variant, then (failover) the others with weight, stable first: computed
        only when the variant took no connection."""
        yield variant
        if self.options.failover:
            routed = table.weights.routed()
            yield from (v for v in FAILOVER_ORDER if v != variant and v in routed)

    # -- readiness and weight changes ------------------------------------------------------------

    async def ready(
        self, table: RouteTable | None = None, variants: Sequence[str] | None = None
    ) -> dict[str, bool]:
        """Whether each routed variant's server has the model ready (asked now)."""
        table = table or self._table()
        names = table.weights.routed() if variants is None else variants
        found = await asyncio.gather(*(self._probe(table.upstreams[v]) for v in names))
        return dict(zip(names, found, strict=True))

    async def _probe(self, upstream: Upstream) -> bool:
        path = f"/v2/models/{quote(self.options.model, safe='')}/ready"
        head = f"GET {path} HTTP/1.1\r\nhost: ".encode() + upstream.host + b"\r\n\r\n"
        try:
            status, _ = await upstream.get(head, PROBE_TIMEOUT_S)
        except (UpstreamError, TimeoutError):
            return False
        return status == 200

    async def _change(self, scope: Scope, receive: Receive) -> dict[str, object]:
        """``PUT /router/weights``: apply a change once the servers it routes to are ready."""
        check_admin(self._digest, header(scope, b"authorization"), off=ADMIN_OFF)
        body, held = await read_body(scope, receive, MAX_CHANGE_BYTES, self._budget)
        self._budget.release(held)
        change = parse_change(body)
        async with self._changing:  # one change at a time: each sees the one before
            old = self._table()
            new, opened, retired = next_table(old, change, self.options.upstream_timeout_s)
            found = await self.ready(new, newly_routed(old, new))
            if not all(found.values()):
                for pool in opened:
                    pool.close()
                late = ", ".join(f"{v} ({new.urls[v]})" for v, ok in found.items() if not ok)
                raise Conflict(
                    f"not applied: the server of {late} does not have {self.options.model} "
                    "ready; start it (or wait until /v2/health/ready says so) and retry"
                )
            await self._save(new, opened)
            self.table = new  # one assignment: requests that arrive from now on see it
            self.metrics.weights(new.weights)
            for pool in retired:
                pool.close()
            recorded = await self._record(new, change)  # in the lock: records keep the order
        return {**new.document(self.options), "recorded": recorded}

    async def _save(self, table: RouteTable, opened: list[Upstream]) -> None:
        """Write the state file before the change applies: a router started again finds
        what it applied, never a change it refused."""
        if self.options.state_file is None:
            return
        try:
            await asyncio.to_thread(router_state_file.save, self.options, saved_from(table))
        except OSError as exc:
            for pool in opened:
                pool.close()
            raise Unavailable(
                f"not applied: cannot write the router's state file {self.options.state_file} "
                f"({exc.strerror}); the weights stay as they were"
            ) from None

    async def _record(self, table: RouteTable, change: Change) -> bool:
        """Write the applied change to the store; the change stands even if that fails."""
        if self.recorder is None:
            return False
        try:
            await asyncio.to_thread(self.recorder, table, change)
        except Exception:
            log.exception("could not record the weight change in the store")
            return False
        return True


def _status(exc: BatonError) -> int:
    """serve's statuses, and 502 or 504 for a variant that failed the exchange."""
    return exc.status if isinstance(exc, VariantFailed) else status_for(exc)


def _refusal(exc: BatonError) -> tuple[int, bytes, Headers]:
    return _status(exc), encode_error(exc.message), refusal_headers(exc, b"baton router")


async def _respond(send: Send, status: int, body: bytes, extra: Headers) -> None:
    headers = [(b"content-length", b"%d" % len(body)), *extra]
    if not any(name == b"content-type" for name, _ in extra):
        headers.append((b"content-type", JSON))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

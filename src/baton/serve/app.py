"""Thin raw-ASGI routes: HTTP <-> data plane (no framework on the hot path).

The app object holds only settings and options until its lifespan starts, so it can be
pickled into worker processes; each process then opens the store and loads its models.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from typing import TYPE_CHECKING, Any, TypedDict

from prometheus_client import CollectorRegistry

from baton.config import Settings
from baton.errors import BadInput, BatonError, Forbidden, Kind, NotFound, Unauthorized
from baton.serve.asgi import (
    Headers,
    Receive,
    Scope,
    Send,
    allow,
    freeze_startup_heap,
    refusal_headers,
    run_lifespan,
    status_for,
)
from baton.serve.codec import decode_request, dumps, encode_error, encode_response
from baton.serve.dataplane import DataPlane
from baton.serve.intake import BodyBudget, ClientGone, header, read_body
from baton.serve.loader import LoadedModel
from baton.serve.metrics import CLIENT_CLOSED, CONTENT_TYPE, REQUEST_TIMEOUT, ServingMetrics
from baton.serve.offload import Offload
from baton.serve.options import ServeOptions
from baton.serve.protocol import HEADER_LENGTH
from baton.serve.repository import ModelRepository
from baton.serve.source import ModelSource, open_source

if TYPE_CHECKING:
    from baton.serve.grpc_server import GrpcFront

log = logging.getLogger("baton.serve")

JSON = b"application/json"
UNKNOWN_MODEL = "_unknown"  # one label for requests naming no served model (bounded series)
INFER_PATHS = 256  # infer paths remembered (name, version) before the memory starts afresh


class Runtime:
    """What a started server holds: store, metrics, models and the data plane."""

    def __init__(
        self, store: ModelSource, options: ServeOptions, registry: CollectorRegistry
    ) -> None:
        self.store = store
        self.metrics = ServingMetrics(registry, multiprocess_dir=options.metrics_dir)
        self.repository = ModelRepository(store, options, self.metrics)
        self.dataplane = DataPlane(self.repository, allow_nonfinite=options.allow_nonfinite)
        self.budget = BodyBudget(options.body_budget)
        self.offload = Offload(options.offload_bytes)


class _PickledApp(TypedDict):
    """What a worker process gets to rebuild the app (its collectors and loop are its own)."""

    settings: Settings
    options: ServeOptions
    tune_gc: bool


class ServeApp:
    """The ASGI application of ``baton serve``."""

    def __init__(
        self,
        settings: Settings,
        options: ServeOptions,
        *,
        registry: CollectorRegistry | None = None,
        tune_gc: bool = True,
    ) -> None:
        self.settings = settings
        self.options = options
        self._registry = registry
        self._tune_gc = tune_gc
        self.runtime: Runtime | None = None
        self._admin_digest = admin_digest(options.admin_token)
        self.grpc: GrpcFront | None = None  # --grpc-port: V2 over gRPC on this loop too
        # infer paths already parsed -> (model, version): the hot route skips the parsing
        self._infer_paths: dict[str, tuple[str, str | None]] = {}

    def __getstate__(self) -> _PickledApp:
        return {"settings": self.settings, "options": self.options, "tune_gc": self._tune_gc}

    def __setstate__(self, state: _PickledApp) -> None:
        self.__init__(state["settings"], state["options"], tune_gc=state["tune_gc"])  # type: ignore[misc]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await run_lifespan(receive, send, self.start, self.stop)

    # -- lifespan -------------------------------------------------------------------------

    async def start(self) -> None:
        store = await asyncio.to_thread(open_source, self.settings, self.options)
        runtime = Runtime(store, self.options, self._registry or CollectorRegistry())
        try:
            await runtime.repository.start()
            if self.options.grpc_port is not None:
                from baton.serve.grpc_server import GrpcFront

                self.grpc = GrpcFront(runtime, self.options)
                await self.grpc.start()
        except BaseException:
            await runtime.repository.close()
            store.close()
            raise
        self.runtime = runtime
        if self._tune_gc:
            freeze_startup_heap()

    async def stop(self) -> None:
        if self.grpc is not None:  # gRPC calls in flight finish before the queues drain
            await self.grpc.drain()
        if self.runtime is not None:
            await self.runtime.repository.close()
            self.runtime.offload.close()
            self.runtime.store.close()
            self.runtime.metrics.close()

    def _check_admin(self, scope: Scope) -> None:
        check_admin(self._admin_digest, header(scope, b"authorization"))

    # -- HTTP -----------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        extra: Headers = []
        try:
            status, body, content_type, extra = await self._route(scope, receive, started)
        except BatonError as exc:
            status, body, content_type = status_for(exc), encode_error(exc.message), JSON
            extra = refusal_headers(exc, b"baton serve")
        except ClientGone:
            return
        except Exception as exc:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            status = 500
            body = encode_error(f"internal error ({type(exc).__name__}); see the server log")
            content_type = JSON
        headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
        if extra:
            headers += extra
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _route(
        self, scope: Scope, receive: Receive, started: float
    ) -> tuple[int, bytes, bytes, Headers]:
        runtime = self.runtime
        if runtime is None:
            raise BatonError("the server is still loading its models", kind=Kind.UNAVAILABLE)
        method: str = scope["method"]
        path: str = scope["path"]
        infer = self._infer_paths.get(path)
        if infer is not None:
            allow(method, "POST")
            return await self._infer(runtime, infer[0], infer[1], scope, receive, started)
        if path == "/metrics":
            allow(method, "GET")
            runtime.repository.refresh_drift()
            runtime.metrics.alias_lookups(runtime.store.registry.alias_lookups)
            # off the loop: with --workers, merging every worker's files took 20-70 ms a
            # scrape (2 workers, one model), a stall for every request on this worker
            exposition = await asyncio.to_thread(runtime.metrics.exposition)
            return 200, exposition, CONTENT_TYPE.encode(), []
        parts = path.strip("/").split("/")
        if parts[0] != "v2":
            raise NotFound(f"no route {path}: the inference API lives under /v2")
        parts = parts[1:]
        plane = runtime.dataplane
        if parts == ["models", "stats"]:  # Triton's statistics extension, every model
            allow(method, "GET")
            return _json(plane.statistics())
        if parts[:1] == ["models"] and len(parts) >= 2:
            found = await self._model_route(runtime, method, parts, scope, receive, started)
            if found is not None:
                return found
        elif parts in ([], [""]):
            allow(method, "GET")
            return _json(plane.server_metadata())
        elif parts == ["health", "live"]:
            allow(method, "GET")
            return _json({"live": plane.live()})
        elif parts == ["health", "ready"]:
            allow(method, "GET")
            ready = plane.ready()
            return (200 if ready else 503), dumps({"ready": ready}), JSON, []
        elif parts == ["repository", "index"]:
            allow(method, "POST", "GET")
            return _json(plane.repository_index())
        elif parts[:2] == ["repository", "models"] and len(parts) == 4:
            allow(method, "POST")
            self._check_admin(scope)
            name, action = parts[2], parts[3]
            if action == "load":
                loaded = await runtime.repository.load(name)
                return _json({"name": name, "versions": [m.version for m in loaded]})
            if action == "unload":
                await runtime.repository.unload(name)
                return _json({"name": name, "unloaded": True})
        raise NotFound(f"no route {path}: see /v2 (Open Inference Protocol) and /metrics")

    async def _model_route(
        self,
        runtime: Runtime,
        method: str,
        parts: list[str],
        scope: Scope,
        receive: Receive,
        started: float,
    ) -> tuple[int, bytes, bytes, Headers] | None:
        """``/v2/models/NAME[/versions/N][/...]``: None when no such route exists."""
        plane = runtime.dataplane
        name, rest = parts[1], parts[2:]
        version: str | None = None
        if rest[:1] == ["versions"] and len(rest) >= 2:
            version, rest = rest[1], rest[2:]
        if rest == ["infer"]:
            if len(self._infer_paths) >= INFER_PATHS:  # paths come from clients: bounded
                self._infer_paths.clear()
            self._infer_paths[scope["path"]] = (name, version)
            allow(method, "POST")
            return await self._infer(runtime, name, version, scope, receive, started)
        if rest == []:
            allow(method, "GET")
            return _json(plane.model_metadata(name, version))
        if rest == ["ready"]:
            allow(method, "GET")
            plane.model_ready(name, version)
            return _json({"name": name, "ready": True})
        if rest == ["config"]:  # Triton's model configuration extension
            allow(method, "GET")
            return _json(plane.model_config(name, version))
        if rest == ["stats"]:
            allow(method, "GET")
            return _json(plane.statistics(name, version))
        if rest == ["drift"]:  # baton's extension: drift of recent traffic per feature
            allow(method, "GET")
            return _json(drift_report(runtime.repository.get(name, version)))
        return None

    async def _infer(
        self,
        runtime: Runtime,
        name: str,
        version: str | None,
        scope: Scope,
        receive: Receive,
        started: float,
    ) -> tuple[int, bytes, bytes, Headers]:
        metrics = runtime.metrics
        try:
            model = runtime.repository.get(name, version)
        except NotFound:
            metrics.count(UNKNOWN_MODEL, "", 404)
            raise
        series = model.series
        series.inflight.inc()
        code = 500
        held = 0
        try:
            body, held = await read_body(
                scope, receive, self.options.max_body_bytes, runtime.budget
            )
            offload, json_length = runtime.offload, _json_length(scope)
            if offload.heavy_request(body, json_length):  # else inline, without a coroutine
                request = await offload.decode(body, json_length)
            else:
                request = decode_request(body, json_length)
            response, model = await runtime.dataplane.infer(name, version, request)
            if offload.heavy_response(response):
                payload, json_length = await offload.encode(response)
            else:
                payload, json_length = encode_response(response)
            code = 200
        except ClientGone as gone:  # not the server's failure: counted apart, never as 5xx
            code = REQUEST_TIMEOUT if gone.timed_out else CLIENT_CLOSED
            raise
        except BatonError as exc:
            code = status_for(exc)
            raise
        finally:
            runtime.budget.release(held)
            series.inflight.dec()
            if code == 200 and model.series.ok is not None:
                model.series.ok.inc()
            else:
                metrics.count(model.name, model.version, code)
            if code not in (CLIENT_CLOSED, REQUEST_TIMEOUT):  # no response: no latency
                elapsed = time.perf_counter() - started
                model.series.request_duration.observe(elapsed)
                model.stats.finished(code == 200, elapsed)
        if json_length is None:
            return 200, payload, JSON, []
        return (
            200,
            payload,
            b"application/octet-stream",
            [(HEADER_LENGTH.encode(), str(json_length).encode())],
        )


def drift_report(model: LoadedModel) -> dict[str, object]:
    """``GET /v2/models/{name}/drift``: what ``baton drift`` prints."""
    base = {"name": model.name, "version": model.version}
    if model.drift is None:
        return {**base, "reference": False, "features": []}
    return {
        **base,
        "reference": True,
        "features": [
            {"feature": s.feature, "score": s.score, "samples": s.samples, "status": s.status}
            for s in model.drift.scores()
        ],
    }


def _json(value: Any) -> tuple[int, bytes, bytes, Headers]:
    return 200, dumps(value), JSON, []


def _json_length(scope: Scope) -> int | None:
    raw = header(scope, HEADER_LENGTH.encode())
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadInput(
            f"Inference-Header-Content-Length {raw[:32]!r} is not a whole number of bytes"
        ) from None


def admin_digest(token: str | None) -> bytes | None:
    return None if token is None else hashlib.sha256(token.encode()).digest()


ADMIN_OFF = (
    "loading and unloading models is off on this server: start it with "
    "--admin-token (or BATON_SERVE_ADMIN_TOKEN) to allow it"
)


def check_admin(digest: bytes | None, authorization: bytes | None, *, off: str = ADMIN_OFF) -> None:
    """Loading and unloading need the admin token (``Authorization: Bearer TOKEN``, an HTTP
    header or gRPC metadata); without one set on the server they are off (``off`` says how
    to turn them on; the router's weight changes use the same check)."""
    if digest is None:
        raise Forbidden(off)
    token = _bearer(authorization)
    if token is None:
        raise Unauthorized("send the admin token as `Authorization: Bearer TOKEN`")
    # compare digests in constant time: neither the token nor its length leaks
    if not hmac.compare_digest(hashlib.sha256(token).digest(), digest):
        raise Forbidden("the admin token is not this server's")


def _bearer(raw: bytes | None) -> bytes | None:
    if raw is None:
        return None
    scheme, _, token = raw.partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None

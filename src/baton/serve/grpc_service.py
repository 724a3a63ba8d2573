"""``inference.GRPCInferenceService``: V2 over gRPC on the same data plane as REST.

The handlers call the same ``DataPlane`` and ``ModelRepository`` the HTTP routes do, in
the same event loop, so one loaded model serves both protocols through one queue, batcher,
set of metrics, limits, hot swap and drift monitor. Requests arrive as bytes and are
parsed here, so a malformed message is an ``INVALID_ARGUMENT`` for that call alone.
Errors map from baton's kinds once (``CODES``); a full queue is ``RESOURCE_EXHAUSTED``
with when to retry in the trailing metadata. Infer calls count in ``baton_requests_total``
with the HTTP status the same mistake gets over REST, so SLO rules cover both protocols.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from baton.errors import BatonError, Kind, NotFound
from baton.serve.app import UNKNOWN_MODEL, Runtime, admin_digest, check_admin, status_for
from baton.serve.grpc_codec import decode_infer, encode_infer
from baton.serve.proto import grpc_v2_pb2 as pb

SERVICE = "inference.GRPCInferenceService"
log = logging.getLogger("baton.serve")

CODES: dict[Kind, grpc.StatusCode] = {
    Kind.BAD_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Kind.CONFLICT: grpc.StatusCode.FAILED_PRECONDITION,
    Kind.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    Kind.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
    Kind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Kind.CORRUPT: grpc.StatusCode.DATA_LOSS,
    Kind.FAILED_CHECK: grpc.StatusCode.FAILED_PRECONDITION,
}

Context = grpc.aio.ServicerContext[Any, Any]
Call = Callable[[Any, Context], Awaitable[Message]]


def code_for(exc: BatonError) -> grpc.StatusCode:
    if status_for(exc) == 429:  # the queue is full: come back later
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    return CODES[exc.kind]


def retry_metadata(exc: BatonError) -> tuple[tuple[str, str], ...]:
    """When to come back: seconds (like HTTP's Retry-After) and gRPC's pushback in ms."""
    retry_after: float | None = getattr(exc, "retry_after_s", None)
    if retry_after is None:
        return ()
    return (
        ("retry-after", str(max(1, math.ceil(retry_after)))),
        ("grpc-retry-pushback-ms", str(max(1, round(retry_after * 1000)))),
    )


class V2Service:
    """The calls baton answers; each takes the parsed request and returns the response."""

    def __init__(
        self, runtime: Runtime, *, draining: Callable[[], bool], admin_token: str | None = None
    ) -> None:
        self.runtime = runtime
        self.plane = runtime.dataplane
        self._draining = draining
        self._admin_digest = admin_digest(admin_token)

    def _check_admin(self, context: Context) -> None:
        """The REST routes' rule: ``authorization: Bearer TOKEN`` in the call's metadata."""
        found = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                found = value.encode() if isinstance(value, str) else value
        check_admin(self._admin_digest, found)

    def handler(self) -> grpc.GenericRpcHandler:
        calls: dict[str, tuple[type[Message], Call]] = {
            "ServerLive": (pb.ServerLiveRequest, self.server_live),
            "ServerReady": (pb.ServerReadyRequest, self.server_ready),
            "ModelReady": (pb.ModelReadyRequest, self.model_ready),
            "ServerMetadata": (pb.ServerMetadataRequest, self.server_metadata),
            "ModelMetadata": (pb.ModelMetadataRequest, self.model_metadata),
            "ModelInfer": (pb.ModelInferRequest, self.model_infer),
            "ModelConfig": (pb.ModelConfigRequest, self.model_config),
            "ModelStatistics": (pb.ModelStatisticsRequest, self.model_statistics),
            "RepositoryIndex": (pb.RepositoryIndexRequest, self.repository_index),
            "RepositoryModelLoad": (pb.RepositoryModelLoadRequest, self.repository_load),
            "RepositoryModelUnload": (pb.RepositoryModelUnloadRequest, self.repository_unload),
        }
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    _guarded(name, kind, call), response_serializer=_serialize
                )
                for name, (kind, call) in calls.items()
            },
        )

    # -- health and metadata ------------------------------------------------------------

    async def server_live(self, request: Any, context: Context) -> Message:
        return pb.ServerLiveResponse(live=self.plane.live())

    async def server_ready(self, request: Any, context: Context) -> Message:
        return pb.ServerReadyResponse(ready=self.plane.ready() and not self._draining())

    async def model_ready(self, request: Any, context: Context) -> Message:
        try:
            self.plane.model_ready(request.name, request.version or None)
        except NotFound:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=not self._draining())

    async def server_metadata(self, request: Any, context: Context) -> Message:
        meta = self.plane.server_metadata()
        return pb.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )

    async def model_metadata(self, request: Any, context: Context) -> Message:
        meta = self.plane.model_metadata(request.name, request.version or None)
        fields = ("name", "versions", "platform", "inputs", "outputs")
        return json_format.ParseDict({k: meta[k] for k in fields}, pb.ModelMetadataResponse())

    async def model_config(self, request: Any, context: Context) -> Message:
        config = self.plane.model_config(request.name, request.version or None)
        return pb.ModelConfigResponse(config=json_format.ParseDict(config, pb.ModelConfig()))

    async def model_statistics(self, request: Any, context: Context) -> Message:
        stats = self.plane.statistics(request.name or None, request.version or None)
        return json_format.ParseDict(stats, pb.ModelStatisticsResponse())

    # -- inference ----------------------------------------------------------------------

    async def model_infer(self, request: Any, context: Context) -> Message:
        started = time.perf_counter()
        name, version = request.model_name, request.model_version or None
        runtime = self.runtime
        try:
            model = runtime.repository.get(name, version)
        except NotFound:
            runtime.metrics.count(UNKNOWN_MODEL, "", 404)
            raise
        model.series.inflight.inc()
        code = 500
        try:
            decoded, raw = decode_infer(request)
            response, model = await self.plane.infer(name, version, decoded)
            answer = encode_infer(response, raw)
            code = 200
        except BatonError as exc:
            code = status_for(exc)
            raise
        finally:
            model.series.inflight.dec()
            runtime.metrics.count(model.name, model.version, code)
            elapsed = time.perf_counter() - started
            model.series.request_duration.observe(elapsed)
            model.stats.finished(code == 200, elapsed)
        return answer

    # -- the model repository extension ------------------------------------------------

    async def repository_index(self, request: Any, context: Context) -> Message:
        return json_format.ParseDict(
            {"models": self.plane.repository_index()}, pb.RepositoryIndexResponse()
        )

    async def repository_load(self, request: Any, context: Context) -> Message:
        self._check_admin(context)
        await self.runtime.repository.load(request.model_name)
        return pb.RepositoryModelLoadResponse()

    async def repository_unload(self, request: Any, context: Context) -> Message:
        self._check_admin(context)
        await self.runtime.repository.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _guarded(name: str, kind: type[Message], call: Call) -> Callable[[bytes, Context], Any]:
    """Parse the bytes, run the call, and turn every failure into one status for this
    call alone (the channel and the other calls on it carry on)."""

    async def handle(raw: bytes, context: Context) -> Message | None:
        try:
            request = kind.FromString(raw)
        except DecodeError:
            text = f"the request is not a valid {kind.DESCRIPTOR.name} message"
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, text)
        try:
            return await call(request, context)
        except BatonError as exc:
            code, text, trailers = code_for(exc), exc.message, retry_metadata(exc)
        except Exception as exc:
            log.exception("unexpected error in %s", name)
            code = grpc.StatusCode.INTERNAL
            text, trailers = f"internal error ({type(exc).__name__}); see the server log", ()
        await context.abort(code, text, trailing_metadata=trailers)
        return None  # abort raised; for the type checker

    return handle

"""``inference.GRPCInferenceService``: V2 over gRPC on the same data plane as REST.

The calls use the same ``DataPlane`` and ``ModelRepository`` the HTTP routes do, in the
same event loop, so one loaded model serves both protocols through one queue, batcher,
set of metrics, limits, hot swap and drift monitor. Nothing here knows the transport
(``grpc_server`` carries the calls over HTTP/2): a call takes the parsed request and the
call's metadata and returns the response, or raises baton's errors, which map to gRPC's
status codes once (``CODES``); a full queue is ``RESOURCE_EXHAUSTED`` with when to retry
in the trailing metadata. Infer calls count in ``baton_requests_total`` with the HTTP
status the same mistake gets over REST, so SLO rules cover both protocols.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from baton.errors import BatonError, Kind, NotFound
from baton.serve.app import UNKNOWN_MODEL, Runtime, admin_digest, check_admin
from baton.serve.asgi import status_for
from baton.serve.grpc_codec import decode_infer, encode_infer
from baton.serve.proto import grpc_v2_pb2 as pb

SERVICE = "inference.GRPCInferenceService"
log = logging.getLogger("baton.serve")


class Status(IntEnum):
    """gRPC's status codes (the numbers are the protocol's)."""

    OK = 0
    CANCELLED = 1
    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


CODES: dict[Kind, Status] = {
    Kind.BAD_INPUT: Status.INVALID_ARGUMENT,
    Kind.NOT_FOUND: Status.NOT_FOUND,
    Kind.CONFLICT: Status.FAILED_PRECONDITION,
    Kind.FORBIDDEN: Status.PERMISSION_DENIED,
    Kind.UNAUTHORIZED: Status.UNAUTHENTICATED,
    Kind.UNAVAILABLE: Status.UNAVAILABLE,
    Kind.CORRUPT: Status.DATA_LOSS,
    Kind.FAILED_CHECK: Status.FAILED_PRECONDITION,
}

Metadata = list[tuple[bytes, bytes]]  # the call's custom metadata (lower-case keys)
Call = Callable[[Any, Metadata], Awaitable[Message]]
Trailers = tuple[tuple[str, str], ...]


class Failed(Exception):
    """How a call ended when it did not succeed: a status, its message, trailing metadata
    (and, for what is not a gRPC call at all, the HTTP status)."""

    def __init__(
        self, code: Status, text: str, trailers: Trailers = (), *, http: int = 200
    ) -> None:
        super().__init__(text)
        self.code, self.text, self.trailers, self.http = code, text, trailers, http


def code_for(exc: BatonError) -> Status:
    if status_for(exc) == 429:  # the queue is full: come back later
        return Status.RESOURCE_EXHAUSTED
    return CODES[exc.kind]


def retry_metadata(exc: BatonError) -> Trailers:
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

    def _check_admin(self, metadata: Metadata) -> None:
        """The REST routes' rule: ``authorization: Bearer TOKEN`` in the call's metadata."""
        found = None
        for key, value in metadata:
            if key == b"authorization":
                found = value
        check_admin(self._admin_digest, found)

    def calls(self) -> dict[bytes, tuple[type[Message], Call]]:
        """``/SERVICE/Method`` (the HTTP/2 path) -> the request's type and the call."""
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
        return {f"/{SERVICE}/{name}".encode(): call for name, call in calls.items()}

    # -- health and metadata ------------------------------------------------------------

    async def server_live(self, request: Any, metadata: Metadata) -> Message:
        return pb.ServerLiveResponse(live=self.plane.live())

    async def server_ready(self, request: Any, metadata: Metadata) -> Message:
        return pb.ServerReadyResponse(ready=self.plane.ready() and not self._draining())

    async def model_ready(self, request: Any, metadata: Metadata) -> Message:
        try:
            self.plane.model_ready(request.name, request.version or None)
        except NotFound:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=not self._draining())

    async def server_metadata(self, request: Any, metadata: Metadata) -> Message:
        meta = self.plane.server_metadata()
        return pb.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )

    async def model_metadata(self, request: Any, metadata: Metadata) -> Message:
        meta = self.plane.model_metadata(request.name, request.version or None)
        fields = ("name", "versions", "platform", "inputs", "outputs")
        return json_format.ParseDict({k: meta[k] for k in fields}, pb.ModelMetadataResponse())

    async def model_config(self, request: Any, metadata: Metadata) -> Message:
        config = self.plane.model_config(request.name, request.version or None)
        return pb.ModelConfigResponse(config=json_format.ParseDict(config, pb.ModelConfig()))

    async def model_statistics(self, request: Any, metadata: Metadata) -> Message:
        stats = self.plane.statistics(request.name or None, request.version or None)
        return json_format.ParseDict(stats, pb.ModelStatisticsResponse())

    # -- inference ----------------------------------------------------------------------

    async def model_infer(self, request: Any, metadata: Metadata) -> Message:
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

    async def repository_index(self, request: Any, metadata: Metadata) -> Message:
        return json_format.ParseDict(
            {"models": self.plane.repository_index()}, pb.RepositoryIndexResponse()
        )

    async def repository_load(self, request: Any, metadata: Metadata) -> Message:
        self._check_admin(metadata)
        await self.runtime.repository.load(request.model_name)
        return pb.RepositoryModelLoadResponse()

    async def repository_unload(self, request: Any, metadata: Metadata) -> Message:
        self._check_admin(metadata)
        await self.runtime.repository.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()


async def answer(
    kind: type[Message], call: Call, message: bytes | memoryview, metadata: Metadata
) -> bytes:
    """Parse the request, run the call, and return the serialized response; every failure
    is one ``Failed`` for this call alone (the channel and the other calls carry on)."""
    try:
        # protobuf (upb) parses any buffer: a view of the body spares copying its tensors
        request = kind.FromString(message)  # type: ignore[arg-type]
    except DecodeError:
        text = f"the request is not a valid {kind.DESCRIPTOR.name} message"
        raise Failed(Status.INVALID_ARGUMENT, text) from None
    try:
        response = await call(request, metadata)
    except BatonError as exc:
        raise Failed(code_for(exc), exc.message, retry_metadata(exc)) from None
    except Exception as exc:
        log.exception("unexpected error in %s", call.__name__)
        text = f"internal error ({type(exc).__name__}); see the server log"
        raise Failed(Status.INTERNAL, text) from None
    return response.SerializeToString()

"""``baton serve`` in a background thread of this process, for notebooks, pipelines and tests.

The same steps as the command, in the same order: every reference resolved, planned and
verified before the port is taken; the port bound before anything says it serves; the
server listed for Prometheus and recorded in the store (so the audit counts it, for the
time it ran); the address handed back only once the models answer. ``stop`` lets in-flight
requests finish, then marks the server stopped and takes its scrape target away.
"""

from __future__ import annotations

import atexit
import threading
from contextlib import ExitStack
from dataclasses import replace
from types import TracebackType

from prometheus_client import CollectorRegistry

from baton.config import Settings
from baton.errors import BadInput, Unavailable
from baton.serve import discovery
from baton.serve.app import ServeApp
from baton.serve.asgi import Message, Receive, Scope, Send
from baton.serve.listen import bind
from baton.serve.options import ServeOptions
from baton.serve.ready import ReadyServer, ServedVersion, served_versions
from baton.serve.recorded import RecordedServer
from baton.serve.server import check_refs, uvicorn_config


class _StartupFailure:
    """Pass-through ASGI wrapper that keeps why the app's start-up failed (uvicorn only
    logs it), so the caller gets the reason in its error, not just "did not start"."""

    def __init__(self, app: ServeApp) -> None:
        self.app = app
        self.options = app.options  # the port guard reads its limits here
        self.reason: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def spy(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                self.reason = str(message.get("message") or "")
            await send(message)

        await self.app(scope, receive, spy)


class Serving:
    """A server running in a thread of this process. Use it as a context manager (it stops
    on leaving the block), or call ``stop()``."""

    def __init__(
        self,
        url: str,
        models: list[ServedVersion],
        server: ReadyServer,
        thread: threading.Thread,
        cleanup: ExitStack,
    ) -> None:
        self.url = url
        self.models = models
        self._server = server
        self._thread = thread
        self._cleanup = cleanup

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop accepting, let in-flight requests finish, mark the server stopped."""
        atexit.unregister(self.stop)
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._cleanup.close()

    def __enter__(self) -> Serving:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        refs = ", ".join(m.ref for m in self.models)
        return f"<Serving {refs} at {self.url}{'' if self.running else ' (stopped)'}>"


def serve_in_thread(settings: Settings, options: ServeOptions) -> Serving:
    """Start serving ``options.refs`` and return once the models answer."""
    if options.workers != 1:
        raise BadInput("a server in a thread runs one worker: `baton serve --workers N` runs more")
    planned = check_refs(settings, options)
    cleanup = ExitStack()
    sock = bind(options)
    cleanup.callback(sock.close)
    try:
        options = replace(options, port=sock.getsockname()[1])
        url = f"http://{options.host}:{options.port}"
        target = discovery.register(
            settings.scrape_targets, options.host, options.port, list(options.refs)
        )
        cleanup.callback(discovery.unregister, target)
        record = RecordedServer(settings, options, options.port)  # decides; the app follows
        cleanup.callback(record.stop)
        options = record.options
        app = _StartupFailure(
            ServeApp(settings, options, registry=CollectorRegistry(), tune_gc=False)
        )
        ready = threading.Event()
        config = uvicorn_config(app, options)  # type: ignore[arg-type]  # any ASGI app runs
        server = ReadyServer(config, ready.set)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"baton-serve-{options.port}"
        )
        thread.daemon = True
        thread.start()
        while not ready.wait(0.05):
            if not thread.is_alive():
                raise Unavailable(f"the server did not start: {app.reason or 'see its log'}")
    except BaseException:
        cleanup.close()
        raise
    serving = Serving(url, served_versions(url, options.refs, planned), server, thread, cleanup)
    atexit.register(serving.stop)  # a notebook that ends without stop() still marks it stopped
    return serving

"""The control plane on a real uvicorn server on a free loopback port, over each database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from baton.api.app import create_app
from baton.client import RemoteControl
from baton.config import Settings
from baton.store.store import Store
from tests.ownership_factory import World, build_world


@dataclass
class Api:
    url: str
    world: World

    def http(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.world.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def remote(self, who: str) -> RemoteControl:
        return RemoteControl(self.url, self.world.tokens[who])


def serve(store: Store, **options: Any) -> Iterator[str]:
    """Run the app (``create_app(store, **options)``) in a thread on 127.0.0.1:<free port>;
    yield its URL, then stop it (its lifespan's shutdown runs)."""
    app = create_app(store, **options)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the control plane did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def api(store: Store, settings: Settings, tmp_path: Path) -> Iterator[Api]:
    """The API over the test store, with its settings (the rollout routes start processes
    under its BATON_HOME)."""
    world = build_world(store, tmp_path)
    for url in serve(store, settings=settings):
        yield Api(url, world)

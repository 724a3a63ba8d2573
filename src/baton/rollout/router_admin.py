"""``RouterAdmin``: the router's admin calls from Python (the canary controller uses it).

    admin = RouterAdmin("http://127.0.0.1:8080", token)
    admin.set_weights({"stable": 90, "baseline": 5, "canary": 5},
                      upstreams={"canary": "http://127.0.0.1:8003"}, reason="step 1")
    admin.weights().generation

Every refusal comes back as the ``BatonError`` its status stands for, with the router's
own message (``BadInput`` for weights that do not add up, ``Conflict`` for a server that
is not ready or a stale ``generation``, ``Unauthorized`` / ``Forbidden`` for the token).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from baton.errors import (
    BadInput,
    BatonError,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
)

_ERRORS: dict[int, type[BatonError]] = {
    400: BadInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


@dataclass(frozen=True)
class RouterState:
    """What a router applies: ``GET /router/weights`` (and the answer to a change)."""

    model: str
    generation: int
    weights: dict[str, float]  # percent per variant
    upstreams: dict[str, str | None]  # variant -> server URL (None: none)
    sticky_header: str | None
    recorded: bool | None = None  # a change's answer: written to the store

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> RouterState:
        weights = value["weights"]
        upstreams = value["upstreams"]
        if not isinstance(weights, dict) or not isinstance(upstreams, dict):
            raise Unavailable("the router's answer is not a weights document")
        recorded = value.get("recorded")
        sticky = value.get("sticky_header")
        return cls(
            model=str(value["model"]),
            generation=int(str(value["generation"])),
            weights={str(k): float(v) for k, v in weights.items()},
            upstreams={str(k): (None if v is None else str(v)) for k, v in upstreams.items()},
            sticky_header=None if sticky is None else str(sticky),
            recorded=None if recorded is None else bool(recorded),
        )

    def applies(self, weights: Mapping[str, float], upstreams: Mapping[str, str | None]) -> bool:
        """Whether the router sends these shares to these servers (variants not named in
        ``upstreams`` may point anywhere)."""
        return all(
            abs(self.weights.get(v, 0.0) - share) < 1e-9 for v, share in weights.items()
        ) and all(self.upstreams.get(v) == url for v, url in upstreams.items())


class RouterAdmin:
    """The admin calls of one router (a blocking client; close it, or use ``with``)."""

    def __init__(self, url: str, token: str | None, *, timeout_s: float = 10.0) -> None:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def __enter__(self) -> RouterAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def weights(self) -> RouterState:
        return RouterState.from_json(self._call("GET", None))

    def set_weights(
        self,
        weights: Mapping[str, float],
        *,
        upstreams: Mapping[str, str | None] | None = None,
        generation: int | None = None,
        by: str | None = None,
        reason: str | None = None,
    ) -> RouterState:
        """Apply new weights (and servers); ``generation``: only if nothing changed since."""
        body: dict[str, object] = {"weights": dict(weights)}
        for key, value in (
            ("upstreams", None if upstreams is None else dict(upstreams)),
            ("generation", generation),
            ("by", by),
            ("reason", reason),
        ):
            if value is not None:
                body[key] = value
        return RouterState.from_json(self._call("PUT", body))

    def _call(self, method: str, body: dict[str, object] | None) -> dict[str, object]:
        try:
            response = self._client.request(method, "/router/weights", json=body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot reach the router at {self.url}: {exc}") from None
        try:
            value = response.json()
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise Unavailable(
                f"the router at {self.url} answered {response.status_code} without JSON"
            )
        if response.status_code != 200:
            message = str(value.get("error", f"status {response.status_code}"))
            raise _ERRORS.get(response.status_code, Unavailable)(message)
        return value

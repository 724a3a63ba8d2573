"""A client for the ``baton api`` control plane that speaks the same ``Control`` interface.

Responses are turned back into the service dataclasses and error bodies back into
``BatonError`` of the same kind, so the CLI prints the same lines and exits with the same
codes whether it talks to the store directly or through the API.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import TypeAdapter

from baton.core.promotion import Target
from baton.core.refs import Ref
from baton.core.roles import NotPermitted, RequestKind, parse_matrix
from baton.core.served_at import History
from baton.errors import (
    BadInput,
    BatonError,
    Conflict,
    Corrupt,
    FailedCheck,
    Forbidden,
    Kind,
    NotFound,
    Unauthorized,
    Unavailable,
)
from baton.store.approvals import PromotionInfo
from baton.store.evaluations import EvaluationRecord
from baton.store.governance import NewUser
from baton.store.ownership import Owners, OwnersJSON
from baton.store.people import Issued, Person, TeamInfo, TokenInfo
from baton.store.registry import LogEntry, ModelInfo, VersionInfo
from baton.store.requests import RequestInfo

if TYPE_CHECKING:
    from baton.core.deployment_records import DeploymentRecord
    from baton.core.rollout_records import RolloutRecord
    from baton.rollout.canary_service import CanaryStatus
    from baton.rollout.deploy_status import DeploymentStatus
    from baton.rollout_control import CanaryPlan

T = TypeVar("T")
# Starting processes waits for each to announce itself (up to two minutes for a server that
# verifies and loads its model): these calls wait longer than the usual 30 s.
SPAWN_TIMEOUT_S = 300.0
_STATUS_KIND = {
    400: Kind.BAD_INPUT,
    401: Kind.UNAUTHORIZED,
    403: Kind.FORBIDDEN,
    404: Kind.NOT_FOUND,
    409: Kind.CONFLICT,
    422: Kind.FAILED_CHECK,
    503: Kind.UNAVAILABLE,
}
# Named, not found by BatonError.__subclasses__(): that list grows with every module imported
# (an edge's own subclass once turned every remote bad input into it).
_ERROR_CLASS: dict[Kind, type[BatonError]] = {
    c.kind: c
    for c in (
        BadInput,
        NotFound,
        Conflict,
        Forbidden,
        Unauthorized,
        Unavailable,
        Corrupt,
        FailedCheck,
    )
}


def _as(cls: Any, data: Any) -> Any:
    return TypeAdapter(cls).validate_python(data)


def _owners(doc: OwnersJSON) -> Owners:
    matrix = parse_matrix({"stages": doc["stages"], "policy": doc["policy"]})
    return Owners(doc["model"], doc["owner"], doc["source"], matrix, tuple(doc["missing_teams"]))


class RemoteControl:
    """The control plane at ``url``, acting as the owner of ``token``."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise BadInput(f"BATON_URL {url!r} is not an http(s) URL, as in http://baton:8700")
        self.url = url.rstrip("/")
        import httpx  # here, not at the top: the local store (most commands) never needs it

        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"cannot reach the control plane at {self.url} ({type(exc).__name__}): "
                "check BATON_URL and that `baton api` is running"
            ) from None
        if response.is_success:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {}
        message = body.get("error") or f"{response.status_code} {response.reason_phrase}"
        try:
            kind = Kind(body.get("kind"))
        except ValueError:
            kind = _STATUS_KIND.get(response.status_code, Kind.UNAVAILABLE)
        if "who_can" in body:
            raise NotPermitted(message, body["who_can"])
        raise _ERROR_CLASS.get(kind, BatonError)(message, kind=kind)

    # -- registry -------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        return list(_as(list[ModelInfo], self._call("GET", "/v1/models")))

    def model(self, name: str) -> tuple[ModelInfo, list[VersionInfo]]:
        data = self._call("GET", f"/v1/models/{name}")
        return _as(ModelInfo, data["model"]), list(_as(list[VersionInfo], data["versions"]))

    def resolve(self, ref: Ref) -> VersionInfo:
        found: VersionInfo = _as(
            VersionInfo, self._call("GET", "/v1/resolve", params={"ref": str(ref)})
        )
        return found

    def log_entries(self, model: str | None = None, limit: int = 50) -> list[LogEntry]:
        params: dict[str, str | int] = {"limit": limit}
        if model is not None:
            params["model"] = model
        return list(_as(list[LogEntry], self._call("GET", "/v1/audit", params=params)))

    def evaluations(self, model: str) -> list[EvaluationRecord]:
        data = self._call("GET", f"/v1/models/{model}/evaluations")
        return list(_as(list[EvaluationRecord], data))

    def history(self, name: str, at: datetime | None) -> History:
        params = {} if at is None else {"at": at.isoformat()}
        found: History = _as(
            History, self._call("GET", f"/v1/models/{name}/history", params=params)
        )
        return found

    def set_alias(self, name: str, alias: str, number: int, why: str | None) -> int | None:
        body = {"version": number, "why": why}
        data = self._call("PUT", f"/v1/models/{name}/aliases/{alias}", json=body)
        return None if data["previous"] is None else int(data["previous"])

    # -- people ---------------------------------------------------------------------------

    def whoami(self) -> Person:
        found: Person = _as(Person, self._call("GET", "/v1/whoami"))
        return found

    def teams(self) -> list[TeamInfo]:
        return list(_as(list[TeamInfo], self._call("GET", "/v1/teams")))

    def add_team(self, name: str, why: str | None) -> TeamInfo:
        found: TeamInfo = _as(
            TeamInfo, self._call("POST", "/v1/teams", json={"name": name, "why": why})
        )
        return found

    def people(self) -> list[Person]:
        return list(_as(list[Person], self._call("GET", "/v1/users")))

    def add_user(self, name: str, teams: list[str], admin: bool, why: str | None) -> NewUser:
        body = {"name": name, "teams": teams, "admin": admin, "why": why}
        found: NewUser = _as(NewUser, self._call("POST", "/v1/users", json=body))
        return found

    def set_membership(self, name: str, team: str, member: bool, why: str | None) -> Person:
        path = f"/v1/users/{name}/teams/{team}"
        data = self._call("PUT" if member else "DELETE", path, params={"why": why} if why else {})
        found: Person = _as(Person, data)
        return found

    def issue_token(self, name: str) -> Issued:
        found: Issued = _as(Issued, self._call("POST", f"/v1/users/{name}/tokens"))
        return found

    def revoke_token(self, public_id: str, why: str | None) -> TokenInfo:
        data = self._call("POST", f"/v1/tokens/{public_id}/revoke", json={"why": why})
        found: TokenInfo = _as(TokenInfo, data)
        return found

    def tokens(self, name: str | None) -> list[TokenInfo]:
        params = {"user": name} if name else {}
        return list(_as(list[TokenInfo], self._call("GET", "/v1/tokens", params=params)))

    # -- owners and promotion -------------------------------------------------------------

    def owners(self, name: str | None) -> Owners:
        path = "/v1/owners" if name is None else f"/v1/models/{name}/owners"
        return _owners(self._call("GET", path))

    def set_roles(self, name: str | None, document: Any, why: str | None) -> Owners:
        path = "/v1/owners" if name is None else f"/v1/models/{name}/owners"
        return _owners(self._call("PUT", path, json={"document": document, "why": why}))

    def _step(
        self, path: str, version: int, to: Target, why: str | None, via: str | None = None
    ) -> PromotionInfo:
        body: dict[str, object] = {"version": version, "to": to.value, "why": why}
        if via is not None:
            body["via"] = via
        found: PromotionInfo = _as(PromotionInfo, self._call("POST", path, json=body))
        return found

    def promote(
        self, model: str, version: int, to: Target, why: str | None, via: str | None = None
    ) -> PromotionInfo:
        return self._step(f"/v1/models/{model}/promotions", version, to, why, via)

    def approve(self, model: str, version: int, to: Target, why: str | None) -> PromotionInfo:
        return self._step(f"/v1/models/{model}/promotions/approve", version, to, why)

    def cancel(self, model: str, version: int, to: Target, why: str | None) -> PromotionInfo:
        return self._step(f"/v1/models/{model}/promotions/cancel", version, to, why)

    def rollback(self, model: str, why: str | None) -> PromotionInfo:
        data = self._call("POST", f"/v1/models/{model}/rollback", json={"why": why})
        found: PromotionInfo = _as(PromotionInfo, data)
        return found

    def promotions(self, model: str | None, pending_only: bool) -> list[PromotionInfo]:
        params: dict[str, str | bool] = {"pending": pending_only}
        if model is not None:
            params["model"] = model
        return list(_as(list[PromotionInfo], self._call("GET", "/v1/promotions", params=params)))

    # -- requests -------------------------------------------------------------------------

    def raise_request(
        self, model: str, kind: RequestKind, text: str, to: str | None
    ) -> RequestInfo:
        body = {"model": model, "kind": kind.value, "text": text, "to": to}
        found: RequestInfo = _as(RequestInfo, self._call("POST", "/v1/requests", json=body))
        return found

    def close_request(self, request_id: int, why: str | None) -> RequestInfo:
        data = self._call("POST", f"/v1/requests/{request_id}/close", json={"why": why})
        found: RequestInfo = _as(RequestInfo, data)
        return found

    def assign_request(self, request_id: int, to: str, why: str | None) -> RequestInfo:
        data = self._call("POST", f"/v1/requests/{request_id}/assign", json={"to": to, "why": why})
        found: RequestInfo = _as(RequestInfo, data)
        return found

    def requests(self, team: str | None, model: str | None, state: str | None) -> list[RequestInfo]:
        params = {k: v for k, v in (("team", team), ("model", model), ("state", state)) if v}
        return list(_as(list[RequestInfo], self._call("GET", "/v1/requests", params=params)))

    # -- rollout: deployments and canaries -------------------------------------------------
    # The rollout package loads only when one of these is called, as in the CLI.

    def deploy_up(self, model: str, drain_timeout_s: float, why: str | None) -> DeploymentRecord:
        from baton.core.deployment_records import DeploymentRecord

        body = {"drain_timeout_s": drain_timeout_s, "why": why}
        data = self._call("POST", f"/v1/models/{model}/deployment", json=body,
                          timeout=SPAWN_TIMEOUT_S)  # fmt: skip
        found: DeploymentRecord = _as(DeploymentRecord, data)
        return found

    def deploy_down(self, model: str, drain_timeout_s: float, why: str | None) -> DeploymentRecord:
        from baton.core.deployment_records import DeploymentRecord

        body = {"drain_timeout_s": drain_timeout_s, "why": why}
        data = self._call("POST", f"/v1/models/{model}/deployment/down", json=body,
                          timeout=SPAWN_TIMEOUT_S + 2 * drain_timeout_s)  # fmt: skip
        found: DeploymentRecord = _as(DeploymentRecord, data)
        return found

    def deployments(self, model: str | None) -> list[DeploymentStatus]:
        from baton.rollout.deploy_status import DeploymentStatus

        params = {"model": model} if model else {}
        data = self._call("GET", "/v1/deployments", params=params)
        return list(_as(list[DeploymentStatus], data))

    def canary_start(
        self, model: str, version: int, why: str | None, plan: CanaryPlan
    ) -> RolloutRecord:
        from baton.core.rollout_records import RolloutRecord

        body = {"version": version, "why": why, **asdict(plan)}
        data = self._call("POST", f"/v1/models/{model}/canary", json=body,
                          timeout=SPAWN_TIMEOUT_S)  # fmt: skip
        found: RolloutRecord = _as(RolloutRecord, data)
        return found

    def canary_steer(self, model: str, action: str, why: str | None) -> RolloutRecord:
        """Pause, resume, abort or promote the model's canary (``why`` is required)."""
        from baton.core.rollout_records import RolloutRecord

        data = self._call("POST", f"/v1/models/{model}/canary/{action}", json={"why": why},
                          timeout=SPAWN_TIMEOUT_S)  # fmt: skip
        found: RolloutRecord = _as(RolloutRecord, data)
        return found

    def canary_status(self, model: str) -> CanaryStatus:
        from baton.rollout.canary_service import CanaryStatus

        found: CanaryStatus = _as(CanaryStatus, self._call("GET", f"/v1/models/{model}/canary"))
        return found

    def rollouts(
        self, model: str, limit: int = 20, offset: int = 0
    ) -> tuple[list[RolloutRecord], int | None]:
        """A page of the model's rollouts, newest first, and the offset of the next page."""
        from baton.core.rollout_records import RolloutRecord

        params = {"limit": limit, "offset": offset}
        data = self._call("GET", f"/v1/models/{model}/rollouts", params=params)
        return list(_as(list[RolloutRecord], data["rollouts"])), data["next_offset"]

"""RemoteControl over real HTTP returns exactly what LocalControl returns from the store."""

from __future__ import annotations

import pytest

from baton.client import RemoteControl
from baton.core.promotion import Target
from baton.core.refs import Ref
from baton.core.roles import NotPermitted, RequestKind, Stage
from baton.errors import BadInput, Conflict, Forbidden, NotFound, Unauthorized, Unavailable
from baton.store.local_control import LocalControl
from tests.api.conftest import Api


def test_remote_reads_equal_local_reads(api: Api) -> None:
    w = api.world
    w.evaluate(1)
    w.gov.promotions.promote("toy", 1, Target.STAGING, w.people["alice"], "ready")
    w.gov.requests.raise_request("toy", RequestKind.INCIDENT, "5xx", w.people["mia"], "research")
    remote, local = api.remote("sam"), LocalControl(w.store, "sam")
    assert remote.models() == local.models()
    assert remote.model("toy") == local.model("toy")
    for ref in (Ref("toy"), Ref("toy", version=2), Ref("toy", alias="candidate")):
        assert remote.resolve(ref) == local.resolve(ref)
    assert remote.log_entries("toy", 20) == local.log_entries("toy", 20)
    assert remote.evaluations("toy") == local.evaluations("toy")
    assert remote.whoami() == local.whoami()
    assert remote.teams() == local.teams()
    assert remote.people() == local.people()
    assert remote.tokens(None) == local.tokens(None)
    assert remote.owners("toy") == local.owners("toy")
    assert remote.owners(None) == local.owners(None)
    assert remote.promotions("toy", True) == local.promotions("toy", True)
    assert remote.requests("serving", None, "open") == local.requests("serving", None, "open")


def test_remote_writes_act_as_the_token_owner(api: Api) -> None:
    root = api.remote("root")
    team = root.add_team("platform", "new team")
    assert team.name == "platform" and team.members == ()
    added = root.add_user("pat", ["platform"], False, "joins")
    pat = RemoteControl(api.url, added.token.token)
    assert pat.whoami().teams == ("platform",)
    second = pat.issue_token("pat")
    assert pat.revoke_token(added.token.public_id, "rotated").revoked_at is not None
    with pytest.raises(Unauthorized, match="was revoked"):
        pat.whoami()
    pat = RemoteControl(api.url, second.token)
    assert root.set_membership("pat", "serving", True, "pager").teams == ("platform", "serving")
    assert root.set_membership("pat", "serving", False, None).teams == ("platform",)
    with pytest.raises(Forbidden, match="only an admin"):
        pat.set_membership("pat", "serving", True, "sneaky")
    with pytest.raises(NotPermitted, match="may move @shadow"):  # no role on toy yet
        pat.set_alias("toy", "shadow", 2, "mirror")
    alice = api.remote("alice")
    stages = {"on-call": {"platform": "RA"}, "deployment": {"platform": "R", "serving": "A"}}
    owners = alice.set_roles("toy", {"stages": stages}, "platform")
    assert owners.source == "model" and owners.matrix.accountable(Stage.ONCALL) == "platform"
    assert pat.set_alias("toy", "shadow", 2, "mirror") is None
    assert pat.set_alias("toy", "shadow", 3, "mirror") == 2
    incident = pat.raise_request("toy", RequestKind.INCIDENT, "down", None)
    assert incident.team == "platform"
    assert pat.close_request(incident.id, "restarted").state == "closed"
    with pytest.raises(Conflict, match="already closed"):
        pat.close_request(incident.id, "again")
    audit = api.remote("root").log_entries(None, 200)
    assert {
        "team.create",
        "user.create",
        "token.issue",
        "token.revoke",
        "roles.set",
        "auth.failed",  # the revoked token
        "admin.refused",  # pat joining serving
    } <= {e.action for e in audit}
    assert all(e.actor in {"root", "pat", "alice", "mia", "sam"} for e in audit[:10])


def test_remote_errors_map_to_the_same_kinds(api: Api) -> None:
    sam = api.remote("sam")
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        sam.model("nope")
    with pytest.raises(BadInput):
        sam.promote("toy", 1, Target.STAGING, None)
    with pytest.raises(BadInput, match="not an http"):
        RemoteControl("ftp://x", "t")
    with pytest.raises(Unavailable, match="cannot reach the control plane"):
        RemoteControl("http://127.0.0.1:9", "t").models()

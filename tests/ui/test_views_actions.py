"""The dashboard's actions over HTTP: the R&R matrix decides, the audit log records, and a
forged, replayed or stale form changes nothing."""

from __future__ import annotations

from tests.ui.conftest import Site, send
from tests.ui.forms import form

VERSION = "/ui/models/toy/versions/2"


def _aliases(site: Site) -> dict[str, int]:
    return site.store.registry.models()[1].aliases  # [evil, toy]


def test_promote_and_approve_as_the_accountable_team_refused_for_others(site: Site) -> None:
    sam, mia, alice = site.client("sam"), site.client("mia"), site.client("alice")
    asked = send(sam, VERSION, f"{VERSION}/promote", to="staging", why="ready for staging")
    assert asked.status_code == 303 and asked.headers["location"].endswith("done=requested")

    refused = send(mia, VERSION, f"{VERSION}/approve", why="looks fine to me")
    assert refused.status_code == 403
    assert "only team research" in refused.text and "Teams that may: research" in refused.text
    not_mine = send(sam, VERSION, f"{VERSION}/approve", why="serving says yes")
    assert not_mine.status_code == 403
    assert "staging" not in _aliases(site)

    approved = send(alice, VERSION, f"{VERSION}/approve", why="quality checked")
    assert approved.status_code == 303 and approved.headers["location"].endswith("done=applied")
    assert _aliases(site)["staging"] == 2
    actions = site.world.actions()
    assert "promotion.approve.refused" in actions
    assert actions.index("promotion.apply") < actions.index("promotion.request")
    entry = site.store.registry.log_entries("toy", 10)
    assert any(e.actor == "alice" and e.reason == "quality checked" for e in entry)


def test_marketing_may_not_even_ask(site: Site) -> None:
    refused = send(site.client("mia"), VERSION, f"{VERSION}/promote", to="staging", why="go")
    assert refused.status_code == 403 and "may promote" in refused.text
    assert site.world.gov.promotions.history("toy") == []


def test_a_reason_is_required(site: Site) -> None:
    missing = send(site.client("sam"), VERSION, f"{VERSION}/promote", to="staging", why=" ")
    assert missing.status_code == 400 and "fill it in" in missing.text
    assert site.world.gov.promotions.history("toy") == []


def test_a_replayed_form_is_refused(site: Site) -> None:
    sam = site.client("sam")
    fields = {**form(sam.get(VERSION).text, f"{VERSION}/promote").fields, "why": "once"}
    fields["to"] = "staging"
    assert sam.post(f"{VERSION}/promote", data=fields).status_code == 303
    again = sam.post(f"{VERSION}/promote", data=fields)
    assert again.status_code == 403 and "already sent once" in again.text
    assert len(site.world.gov.promotions.history("toy")) == 1


def test_forged_and_foreign_form_tokens_are_refused(site: Site) -> None:
    sam, sue = site.client("sam"), site.client("sue")
    fields = {**form(sam.get(VERSION).text, f"{VERSION}/promote").fields, "why": "x"}
    assert sue.post(f"{VERSION}/promote", data=fields).status_code == 403  # another session
    other = {
        **fields,
        "form_token": form(sam.get(VERSION).text, f"{VERSION}/promote").fields["form_token"],
    }
    # a token made for one form does not fit another
    assert sam.post(f"{VERSION}/cancel", data=other).status_code == 403
    forged = sam.post(f"{VERSION}/promote", data={**fields, "form_token": "a.1.b"})
    assert forged.status_code == 403
    bare = sam.post(f"{VERSION}/promote", data={"to": "staging", "why": "x"})
    assert bare.status_code == 403 and "form token" in bare.text
    cross = sam.post(f"{VERSION}/promote", data=fields, headers={"Origin": "http://evil.test"})
    assert cross.status_code == 403 and "another site" in cross.text
    assert site.world.gov.promotions.history("toy") == []


def test_a_form_without_a_session_is_refused(site: Site) -> None:
    sam = site.client("sam")
    fields = {**form(sam.get(VERSION).text, f"{VERSION}/promote").fields, "why": "x"}
    anonymous = site.client()
    assert anonymous.post(f"{VERSION}/promote", data=fields).status_code == 401


def test_a_stale_form_is_refused_saying_what_changed(site: Site) -> None:
    sam, alice = site.client("sam"), site.client("alice")
    assert send(sam, VERSION, f"{VERSION}/promote", to="staging", why="a").status_code == 303
    shown = alice.get(VERSION).text  # the approval form, as alice sees it now
    # meanwhile the step is applied through another page
    bob = site.client("bob")
    assert send(bob, VERSION, f"{VERSION}/approve", why="bob first").status_code == 303
    fields = {**form(shown, f"{VERSION}/approve").fields, "why": "me too"}
    stale = alice.post(f"{VERSION}/approve", data=fields)
    assert stale.status_code == 409
    assert "@staging of toy moved from none to 2" in stale.text
    assert "nothing was done" in stale.text


def test_rollback_is_on_calls_lever(site: Site) -> None:
    gov, people = site.world.gov, site.world.people
    from baton.core.promotion import Target

    for number in (1, 2):
        gov.promotions.promote("toy", number, Target.STAGING, people["sam"], "s")
        gov.promotions.approve("toy", number, Target.STAGING, people["alice"], "ok")
        gov.promotions.promote("toy", number, Target.PRODUCTION, people["sam"], "p")
        gov.promotions.approve("toy", number, Target.PRODUCTION, people["alice"], "ok")
        gov.promotions.approve("toy", number, Target.PRODUCTION, people["sue"], "ok")
    assert _aliases(site)["production"] == 2
    page, action = "/ui/models/toy", "/ui/models/toy/rollback"
    refused = send(site.client("alice"), page, action, why="research wants it back")
    assert refused.status_code == 403 and _aliases(site)["production"] == 2
    done = send(site.client("sam"), page, action, why="p99 doubled")
    assert done.status_code == 303 and _aliases(site)["production"] == 1


def test_close_and_delegate_requests_as_the_assigned_team(site: Site) -> None:
    gov = site.world.gov
    scale = next(r for r in gov.requests.list(model="toy") if r.kind == "scale")
    retrain = next(r for r in gov.requests.list(model="toy") if r.kind == "retrain")
    inbox = "/ui/requests?team=serving"
    close = f"/ui/requests/{scale.id}/close"
    # research may not close serving's request (its page shows no form; a forged post fails)
    alice = site.client("alice")
    fields = {**form(site.client("sam").get(inbox).text, close).fields, "why": "done"}
    assert alice.post(close, data=fields).status_code == 403
    sue = site.client("sue")
    sues = {**form(sue.get(inbox).text, close).fields, "why": "me too"}  # shown before
    closed = send(site.client("sam"), inbox, close, why="two more replicas")
    assert closed.status_code == 303
    assert gov.requests.get(scale.id).state == "closed"
    again = sue.post(close, data=sues)
    assert again.status_code == 409 and "already closed" in again.text
    assert gov.requests.get(scale.id).resolution == "two more replicas"

    research = "/ui/requests?team=research"
    delegate = f"/ui/requests/{retrain.id}/delegate"
    moved = send(site.client("alice"), research, delegate, to="serving", why="needs GPUs")
    assert moved.status_code == 303
    after = gov.requests.get(retrain.id)
    assert after.team == "serving" and after.delegated and after.raised_with == "research"
    assert "request.delegate" in site.world.actions()

"""Signing in with a token: a session cookie that names the token, never holds it."""

from __future__ import annotations

from tests.ui.conftest import Site, sign_in


def test_a_token_becomes_a_strict_http_only_session(site: Site) -> None:
    client = site.client()
    signed = sign_in(client, site.world.tokens["sam"])
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert site.world.tokens["sam"] not in cookie
    secret = site.world.tokens["sam"].rsplit("_", 1)[1]
    assert secret not in cookie
    assert client.get("/ui/").status_code == 200


def test_wrong_and_missing_tokens_are_401_and_audited(site: Site) -> None:
    client = site.client()
    wrong = sign_in(client, "bt_0000_nope")
    assert wrong.status_code == 401 and "the token is not valid" in wrong.text
    assert "set-cookie" not in wrong.headers
    empty = sign_in(client, "")
    assert empty.status_code == 401 and "paste your token" in empty.text
    assert client.get("/ui/").status_code == 401
    failed = [e for e in site.store.registry.log_entries(None, 50) if e.action == "auth.failed"]
    assert failed


def test_revoking_the_token_ends_the_session(site: Site) -> None:
    client = site.client("sam")
    assert client.get("/ui/").status_code == 200
    public_id = site.world.tokens["sam"].split("_")[1]
    site.world.gov.people.revoke_token(public_id, site.world.people["root"], "left")
    after = client.get("/ui/")
    assert after.status_code == 401 and "revoked" in after.text


def test_a_forged_cookie_is_no_session(site: Site) -> None:
    value = site.client("sam").cookies["baton_session"]
    body, mac = value.split(".")
    forged = site.client()
    forged.cookies.set("baton_session", f"{body[:-2]}AA.{mac}")
    assert forged.get("/ui/").status_code == 401


def test_sign_out_ends_the_session_and_next_stays_on_the_site(site: Site) -> None:
    client = site.client()
    page = client.get("/ui/signin?next=https://evil.test/")
    assert 'value="/ui/"' in page.text  # an outside address is not followed
    sign_in(client, site.world.tokens["alice"])
    from tests.ui.forms import form

    out = client.post("/ui/signout", data=form(client.get("/ui/").text, "/ui/signout").fields)
    assert out.status_code == 303
    assert client.get("/ui/").status_code == 401

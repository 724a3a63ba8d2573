"""Rollouts, history and assigning requests on the dashboard, over HTTP on a real store:
what ``baton canary status`` and ``baton history`` read, shown as pages, and the canary
forms refused for teams the R&R matrix does not name."""

from __future__ import annotations

import json
import re

from baton.core.rollout_records import Phase
from baton.store.rollouts import Rollouts
from tests.ui.conftest import SCRIPT, Site, send
from tests.ui.forms import form

ESCAPED = "&lt;script&gt;window.__pwned = 1&lt;/script&gt;"
LIVE = "/ui/models/toy/rollouts/2"  # seed_rollouts: #1 failed, #2 in progress
FAILED = "/ui/models/toy/rollouts/1"


def _live(site: Site) -> Phase:
    found = Rollouts(site.store.engine).get(2)
    return found.phase


def test_model_and_version_pages_list_the_rollouts_newest_first(site: Site) -> None:
    client = site.client("mia")
    page = client.get("/ui/models/toy").text
    assert page.index(f'href="{LIVE}"') < page.index(f'href="{FAILED}"')
    assert "stable 80 / baseline 10 / canary 10" in page and ">failed</span>" in page
    v2 = client.get("/ui/models/toy/versions/2").text
    assert f'href="{LIVE}"' in v2 and f'href="{FAILED}"' not in v2
    v3 = client.get("/ui/models/toy/versions/3").text
    assert f'href="{FAILED}"' in v3 and f'href="{LIVE}"' not in v3


def test_a_rollout_page_shows_its_spec_state_decisions_and_chart(site: Site) -> None:
    page = site.client("mia").get(LIVE)
    assert page.status_code == 200
    text = page.text
    assert "Rollout #2 of toy: 1 → 2" in text and ">progressing</span>" in text
    assert "5 %, 10 %, 25 %, 50 %, then 100 %" in text  # the spec
    assert "3 allowed before rollback" in text and "pass score" in text
    assert "pid " in text and "lease until" in text  # the controller that holds it
    # the decision with its numbers and the weights it left
    assert "step 0 · advance · score 97.5" in text
    assert (
        "Judged at stable 90 / baseline 5 / canary 5; after it: stable 80 / baseline 10 / canary 10"
        in text
    )
    for number in ("27840", "0.42", "0.0001", "[-0.0002, 0.0003]", "240 / 236", "0.71"):
        assert f"<td>{number}</td>" in text, number
    # the chart is data for the packaged script, not an inline script
    block = re.search(r'<script type="application/json" class="plotly-figure">(.*?)</script>',
                      text, re.S)  # fmt: skip
    assert block is not None
    figure = json.loads(block.group(1))
    weights, scores = figure["data"]
    assert weights["y"][:3] == [0, 5, 10] and scores["y"] == [97.5]
    assert "/static/plotly.min.js" in text and "/static/charts.js" in text
    # hostile text in a reason and a metric message is shown as text
    assert ESCAPED in text and SCRIPT not in text
    # a progressing rollout may be paused, aborted or promoted, not resumed
    for action in ("pause", "abort", "promote"):
        assert f'action="{LIVE}/{action}"' in text
    assert f'action="{LIVE}/resume"' not in text


def test_a_finished_rollout_has_no_forms_and_says_why_it_failed(site: Site) -> None:
    text = site.client("sam").get(FAILED).text
    assert ">failed</span>" in text and "NaN in 12 outputs" in text and "(guardrail)" in text
    assert 'by sam: “<span class="reason">try 3</span>”' in text
    assert "after it: stable 100 / baseline 0 / canary 0" in text
    assert "UTC: “guardrail: non-finite outputs”." in text  # why it finished
    assert 'action="/ui/models/toy/rollouts/1/' not in text


def test_unknown_rollouts_and_actions_are_clear_errors(site: Site) -> None:
    client = site.client("sam")
    missing = client.get("/ui/models/toy/rollouts/99")
    assert missing.status_code == 404 and "toy has no rollout #99" in missing.text
    assert client.get("/ui/models/evil/rollouts/1").status_code == 404  # another model's
    bad = client.get("/ui/models/toy/rollouts/x1")
    assert bad.status_code == 400 and "rollout must be a whole number" in bad.text
    fields = form(client.get(LIVE).text, f"{LIVE}/pause").fields
    wrong = client.post(f"{LIVE}/explode", data={**fields, "why": "x"})
    assert wrong.status_code == 403  # the form token was for /pause: nothing done
    assert _live(site) is Phase.PROGRESSING


def test_pause_resume_and_promote_as_the_teams_the_matrix_names(site: Site) -> None:
    refused = send(site.client("mia"), LIVE, f"{LIVE}/pause", why="marketing says stop")
    assert refused.status_code == 403 and "only team serving" in refused.text
    research = send(site.client("alice"), LIVE, f"{LIVE}/promote", why="ship it")
    assert research.status_code == 403 and "A of deployment" in research.text
    no_reason = send(site.client("sam"), LIVE, f"{LIVE}/pause", why=" ")
    assert no_reason.status_code == 400 and "fill it in" in no_reason.text
    assert _live(site) is Phase.PROGRESSING

    sue = site.client("sue")
    shown = {**form(sue.get(LIVE).text, f"{LIVE}/abort").fields, "why": "too late"}
    paused = send(site.client("sam"), LIVE, f"{LIVE}/pause", why="a big launch tonight")
    assert paused.status_code == 303 and paused.headers["location"].endswith("done=paused")
    assert _live(site) is Phase.PAUSED
    stale = sue.post(f"{LIVE}/abort", data=shown)  # her page showed it progressing
    assert stale.status_code == 409 and "went from progressing to paused" in stale.text
    assert _live(site) is Phase.PAUSED

    resumed = send(site.client("sue"), LIVE, f"{LIVE}/resume", why="launch went fine")
    assert resumed.status_code == 303 and _live(site) is Phase.PROGRESSING
    promoted = send(site.client("sam"), LIVE, f"{LIVE}/promote", why="numbers are clear")
    assert promoted.status_code == 303 and _live(site) is Phase.PROMOTING
    entries = site.store.registry.log_entries("toy", 50)
    said = [(e.action, e.actor, e.reason) for e in entries]
    assert ("rollout.update", "sam", "a big launch tonight") in said
    assert ("rollout.update", "sam", "numbers are clear") in said
    assert "canary.pause.refused" in site.world.actions()
    after = site.client("sam").get(LIVE).text
    assert "a big launch tonight" in after and "promoting" in after


def test_history_answers_what_served_at_a_time(site: Site) -> None:
    from baton.core.promotion import Target

    gov, people = site.world.gov, site.world.people
    gov.promotions.promote("toy", 1, Target.STAGING, people["alice"], "ready")
    gov.promotions.approve("toy", 1, Target.STAGING, people["bob"], f"checked {SCRIPT}")
    client = site.client("mia")
    now = client.get("/ui/models/toy").text
    assert "History" in now and "toy serving now" in now
    assert "promotion #1, asked by alice" in now
    assert "approved by bob (team research, evaluation)" in now
    assert "asked to move 1 to staging" in now and "rollout #2 started" in now
    assert ESCAPED in now and SCRIPT not in now
    before = client.get("/ui/models/toy", params={"at": "2000-01-01 00:00"}).text
    assert "toy at 2000-01-01 00:00 UTC" in before and "did not exist yet" in before
    assert "Nothing recorded by then" in before
    bad = client.get("/ui/models/toy", params={"at": "yesterday-ish"})
    assert bad.status_code == 400 and "is not a time" in bad.text


def test_assign_a_request_to_a_member_of_the_holding_team(site: Site) -> None:
    gov = site.world.gov
    scale = next(r for r in gov.requests.list(model="toy") if r.kind == "scale")
    inbox, assign = "/ui/requests?team=serving", f"/ui/requests/{scale.id}/assign"
    shown = site.client("sam").get(inbox).text
    assert "Not assigned to anyone yet" in shown and f'action="{assign}"' in shown
    assert f'action="{assign}"' not in site.client("alice").get(inbox).text
    outsider = send(site.client("sam"), inbox, assign, to="alice", why="she knows")
    assert outsider.status_code == 400 and "alice is not in team serving" in outsider.text
    given = send(site.client("sam"), inbox, assign, to="sue", why="on call this week")
    assert given.status_code == 303 and given.headers["location"].endswith("done=assigned")
    assert gov.requests.get(scale.id).assignee == "sue"
    assert "Assigned to <strong>sue</strong>" in site.client("sue").get(inbox).text
    assert "request.assign" in site.world.actions()

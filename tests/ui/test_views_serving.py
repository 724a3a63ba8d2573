"""The serving page's audit on a real server over each database: the latest stored run's
totals, its deployments by verdict and savings a page at a time, every run linked and
drawn; hostile text from a fleet file stays text."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from baton.audit.table import money
from baton.store.audits import Audits
from testkit.audit_runs import audit_line, audit_run
from tests.ui.conftest import SCRIPT, Site


def _names(html: str) -> list[str]:
    table = html.split('id="audit-lines"')[1].split("</table>")[0]
    return re.findall(r"<tr><td>(dep-\d{4})", table)


def test_without_a_stored_audit_the_page_says_how_to_store_one(site: Site) -> None:
    html = site.client("sam").get("/ui/serving").text
    assert "No audit is stored yet: <code>baton audit</code> saves each run" in html
    assert "plotly" not in html  # nothing to draw, no chart script


def test_the_latest_audit_with_totals_and_most_savings_first(site: Site) -> None:
    audits = Audits(site.store.engine)
    first = audits.save(audit_run(3), actor="ci")
    latest = audits.save(audit_run(120), actor="ops")
    client = site.client("sam")
    html = client.get("/ui/serving").text
    run = audits.get(latest)
    assert f"Run {latest} by ops at " in html and "120 deployment(s)" in html
    assert f'<td id="cost-now">${run.cost_now:,.0f}</td>' in html
    assert f'<td id="savings">{money(run.savings, signed=True)}</td>' in html
    assert run.savings == sum(d.savings for d in audits.deployments(latest))
    names = _names(html)
    assert names == [d.name for d in audits.deployments(latest, limit=50)]
    assert names[:2] == ["dep-0117", "dep-0111"]  # the two biggest idle ones
    assert "page 1 of 3 (120 in all)" in html
    second = client.get("/ui/serving?page=2").text
    assert _names(second) == [d.name for d in audits.deployments(latest, limit=50, offset=50)]
    for run_id in (first, latest):
        assert f'href="/ui/serving/audits/{run_id}">run {run_id}</a>' in html
    (chart,) = re.findall(r'class="plotly-figure">(.*?)</script>', html)
    figure = json.loads(chart)
    assert figure["data"][0]["y"] == [round(audits.get(i).savings, 2) for i in (first, latest)]
    assert "/static/plotly.min.js" in html and "/static/charts.js" in html


def test_filter_by_verdict_and_an_older_run_by_its_link(site: Site) -> None:
    audits = Audits(site.store.engine)
    first = audits.save(audit_run(12), actor="ci")
    audits.save(audit_run(30), actor="ops")
    client = site.client("mia")
    idle = client.get("/ui/serving?verdict=idle").text
    assert _names(idle) == ["dep-0027", "dep-0021", "dep-0015", "dep-0009", "dep-0003"]
    assert '<option value="idle" selected>idle (5)</option>' in idle
    older = client.get(f"/ui/serving/audits/{first}?verdict=at+risk").text
    assert f"<h1>Audit run {first}</h1>" in older and "12 deployment(s)" in older
    assert _names(older) == ["dep-0000", "dep-0006"]
    assert "Serving and efficiency" not in older  # the run alone, not the servers again


def test_bad_filters_and_unknown_runs_are_clear(site: Site) -> None:
    audits = Audits(site.store.engine)
    run_id = audits.save(audit_run(2), actor="ops")
    client = site.client("sam")
    bad = client.get("/ui/serving?verdict=fine")
    assert bad.status_code == 400 and "verdict &#39;fine&#39;: choose one of at risk" in bad.text
    missing = client.get(f"/ui/serving/audits/{run_id + 1}")
    assert missing.status_code == 404 and f"no audit run {run_id + 1}" in missing.text
    assert client.get("/ui/serving/audits/zero").status_code == 400
    assert site.client().get(f"/ui/serving/audits/{run_id}").status_code == 401


def test_hostile_text_in_a_stored_audit_is_shown_as_text(site: Site) -> None:
    evil = replace(audit_line(0), name=f"dep-evil {SCRIPT}", reasons=(SCRIPT,), owner=SCRIPT)
    run = audit_run(2)
    Audits(site.store.engine).save(replace(run, deployments=(evil, *run.deployments[1:]),
                                           notes=(SCRIPT,)), actor="ops")  # fmt: skip
    html = site.client("sam").get("/ui/serving").text
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html

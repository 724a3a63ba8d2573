"""The serving page's stored audit in a real browser (Playwright driving Debian's Chromium,
as tests/ui/test_browser.py): the savings chart drawn by the packaged Plotly under the
page's policy, the verdict filter, a link to an older run, axe-core without a serious or
critical violation, screenshots under the test's output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.store.audits import Audits
from testkit.audit_runs import audit_run
from tests.ui.conftest import Site
from tests.ui.test_browser import Shots, _open, axe_js, browser, shots

__all__ = ["axe_js", "browser", "shots"]  # the fixtures, shared with test_browser.py

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

SERIOUS = """async () => (await axe.run(document, {resultTypes: ['violations']}))
    .violations.filter(v => ['serious', 'critical'].includes(v.impact))
    .map(v => `${v.id} (${v.impact}): ${v.help} ` +
              v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"""


def test_the_stored_audit_filters_links_and_draws_its_savings(
    site: Site,
    browser: object,
    axe_js: Path,
    shots: Shots,
) -> None:
    audits = Audits(site.store.engine)
    first = audits.save(audit_run(12), actor="ci")
    audits.save(audit_run(60), actor="ops")
    page = _open(browser, site, "sam")
    page.goto(f"{site.url}/ui/serving")
    page.wait_for_function("document.body.dataset.charts === '1'")
    assert page.locator("figure.chart svg.main-svg").count() >= 1
    assert page.locator("#audit-lines tbody tr").count() == 50
    shots.take(page, "serving-audit")
    page.select_option("#verdict", "idle")
    page.click("form.filters button")
    page.wait_for_url("**/ui/serving?verdict=idle")
    verdicts = page.locator("#audit-lines tbody tr td:nth-child(3) .badge").all_inner_texts()
    assert verdicts == ["idle"] * 10
    shots.take(page, "serving-idle")
    page.click(f"a[href$='/serving/audits/{first}']")
    page.wait_for_url(f"**/ui/serving/audits/{first}")
    assert page.inner_text("h1") == f"Audit run {first}"
    assert page.locator("#audit-lines tbody tr").count() == 12
    shots.take(page, "audit-run")
    assert [e for e in page.csp_errors if "'script-src" in e] == []

    checked = _open(browser, site, "sam", bypass_csp=True)  # axe is injected into each page
    problems = {}
    for path in ("/ui/serving", f"/ui/serving/audits/{first}?verdict=at+risk"):
        checked.goto(f"{site.url}{path}")
        checked.wait_for_load_state("networkidle")
        checked.add_script_tag(path=str(axe_js))
        found = checked.evaluate(SERIOUS)
        if found:
            problems[path] = found
    assert problems == {}
    checked.set_viewport_size({"width": 390, "height": 844})
    checked.goto(f"{site.url}/ui/serving")
    shots.take(checked, "serving-phone")

"""The dashboard in a real browser: Playwright driving Debian's Chromium.

Signs in, visits every page (each checked by axe-core for serious or critical
accessibility problems, and for Content-Security-Policy violations by its scripts), acts
as the accountable team and as another, closes and assigns a request, pauses a rollout
(refused for marketing), asks what served at a time, copies a scrape job from the
exporter hub, and checks that hostile text stays text. Every test saves screenshots under
its own output folder (pytest's tmp_path, inside --basetemp).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import Site

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[2] / ".testdeps/node_modules/axe-core/axe.min.js"
PAGES = [
    "/ui/",
    "/ui/models/toy",
    "/ui/models/toy/versions/2",
    "/ui/models/toy/rollouts/2",
    "/ui/models/toy/rollouts/1",
    "/ui/models/toy?at=2000-01-01",
    "/ui/ownership?model=toy",
    "/ui/requests?team=serving",
    "/ui/audit",
    "/ui/serving",
    "/ui/exporters",
    "/ui/exporters/node_exporter",
    "/ui/signin",
]


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (make test installs it)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        _missing("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def axe_js() -> Path:
    if not AXE.is_file():
        _missing(f"axe-core is not at {AXE} (scripts/test-services.sh installs it with npm)")
    return AXE


class Shots:
    """Screenshots of one test, numbered in the order taken."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []

    def take(self, page: object, name: str) -> None:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        self.taken.append(path)


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Shots]:
    found = Shots(tmp_path / "screenshots")
    found.folder.mkdir()
    yield found
    assert found.taken, "a browser test saves at least one screenshot"
    print(f"screenshots: {found.folder}")


def _open(browser: object, site: Site, who: str | None, **options: object) -> object:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)  # type: ignore[attr-defined]
    page = context.new_page()
    page.csp_errors = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and page.csp_errors.append(m.text),
    )
    if who is not None:
        page.goto(f"{site.url}/ui/signin")
        page.fill("#token", site.world.tokens[who])
        page.click("form.card button[type=submit]")
        page.wait_for_url(f"{site.url}/ui/")
    return page


def test_every_page_passes_axe_with_no_serious_or_critical_violation(
    site: Site, browser: object, axe_js: Path, shots: Shots
) -> None:
    page = _open(browser, site, "sam", bypass_csp=True)  # axe is injected into each page
    problems = {}
    for path in PAGES:
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("networkidle")
        page.add_script_tag(path=str(axe_js))
        found = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']}))
                .violations.filter(v => ['serious', 'critical'].includes(v.impact))
                .map(v => `${v.id} (${v.impact}): ${v.help} ` +
                          v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"""
        )
        if found:
            problems[path] = found
        shots.take(page, path.strip("/").replace("/", "-").replace("?", "-") or "models")
    assert problems == {}


def test_pages_keep_their_content_security_policy(
    site: Site, browser: object, shots: Shots
) -> None:
    page = _open(browser, site, "sam")
    for path in PAGES:
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{site.url}/ui/models/toy/versions/2")
    page.wait_for_function("document.body.dataset.charts === '2'")
    assert page.locator("figure.chart svg.main-svg").count() >= 2
    shots.take(page, "charts")
    # Plotly's bundle tries to inject styles (maplibre's CSS, a heatmap's image-rendering);
    # the policy refuses them and the pages carry the same rules as files. No script is
    # ever refused: the pages run no inline script.
    scripts = [e for e in page.csp_errors if "'script-src" in e]
    assert scripts == []
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site.url}/ui/")
    shots.take(page, "models-phone")
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not overflow, "the models page scrolls sideways at phone width"


def _send(page: object, form: str, why: str) -> None:
    page.fill(f"{form} input[name=why]", why)  # type: ignore[attr-defined]
    page.click(f"{form} button[type=submit]")  # type: ignore[attr-defined]


def test_promote_and_approve_as_the_accountable_team_refused_as_another(
    site: Site, browser: object, shots: Shots
) -> None:
    version = f"{site.url}/ui/models/toy/versions/2"
    sam = _open(browser, site, "sam")
    sam.goto(version)
    sam.select_option("#to", "staging")
    _send(sam, "form[action$='/promote']", "ready for staging")
    assert "Promotion asked for" in sam.inner_text("main")
    shots.take(sam, "asked")

    mia = _open(browser, site, "mia")
    mia.goto(version)
    _send(mia, "form[action$='/approve']", "marketing likes it")
    assert "Not allowed" in mia.inner_text("h1")
    assert "only team research" in mia.inner_text("main")
    shots.take(mia, "refused")

    alice = _open(browser, site, "alice")
    alice.goto(version)
    _send(alice, "form[action$='/approve']", "quality checked")
    assert "the step is applied" in alice.inner_text("main")
    assert "@staging" in alice.inner_text("main")
    shots.take(alice, "applied")
    assert site.store.registry.models()[1].aliases["staging"] == 2


def test_close_a_request(site: Site, browser: object, shots: Shots) -> None:
    sam = _open(browser, site, "sam")
    sam.goto(f"{site.url}/ui/requests?team=serving")
    card = "article.request:has-text('scale')"
    _send(sam, f"{card} form[action$='/close']", "two more replicas")
    assert "The request is closed." in sam.inner_text("main")
    shots.take(sam, "closed")
    sam.goto(f"{site.url}/ui/requests?team=serving&state=closed")
    assert "two more replicas" in sam.inner_text("main")


def test_search_the_exporter_hub_and_copy_a_scrape_job(
    site: Site, browser: object, shots: Shots
) -> None:
    page = _open(browser, site, "sam")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{site.url}/ui/exporters")
    page.fill("#q", "postgres")
    page.click("form.filters button")
    titles = page.locator("ul.cards h2").all_inner_texts()
    assert titles and all("ostgre" in t for t in titles), titles
    page.click("ul.cards h2 a")
    page.click("button[data-copy=scrape-job]")
    page.wait_for_function(
        "document.querySelector('[data-copy=scrape-job]').textContent == 'Copied'"
    )
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.inner_text("#scrape-job") and "job_name" in copied
    shots.take(page, "copied")


def test_script_in_a_description_and_a_request_is_shown_as_text(
    site: Site, browser: object, shots: Shots
) -> None:
    page = _open(browser, site, "sam")
    for path in ("/ui/models/evil/versions/1", "/ui/requests?team=serving", "/ui/audit"):
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__pwned") is None
        shots.take(page, path.strip("/").replace("/", "-").replace("?", "-"))
    page.goto(f"{site.url}/ui/models/evil/versions/1")
    assert "<script>window.__pwned = 1</script>" in page.inner_text("p.description")
    page.goto(f"{site.url}/ui/requests?team=serving")
    assert "<script>window.__pwned = 1</script>" in page.inner_text("main")


def test_pause_a_rollout_as_serving_refused_as_marketing(
    site: Site, browser: object, shots: Shots
) -> None:
    rollout = f"{site.url}/ui/models/toy/rollouts/2"
    sam = _open(browser, site, "sam")
    sam.goto(rollout)
    sam.wait_for_function("document.body.dataset.charts === '1'")
    assert sam.locator("figure.chart svg.main-svg").count() >= 1
    assert sam.evaluate("window.__pwned") is None
    assert "<script>window.__pwned = 1</script>" in sam.inner_text("span.reason")
    shots.take(sam, "rollout")
    assert [e for e in sam.csp_errors if "'script-src" in e] == []  # type: ignore[attr-defined]

    mia = _open(browser, site, "mia")
    mia.goto(rollout)
    _send(mia, "form[action$='/pause']", "marketing says stop")
    assert "Not allowed" in mia.inner_text("h1")
    assert "only team serving" in mia.inner_text("main")
    shots.take(mia, "pause-refused")

    _send(sam, "form[action$='/pause']", "a big launch tonight")
    assert "Pause recorded" in sam.inner_text("main")
    assert sam.locator("form[action$='/resume']").count() == 1
    shots.take(sam, "paused")
    from baton.store.rollouts import Rollouts

    assert Rollouts(site.store.engine).get(2).phase.value == "paused"
    sam.set_viewport_size({"width": 390, "height": 844})
    for path in ("/ui/models/toy/rollouts/2", "/ui/models/toy"):
        sam.goto(f"{site.url}{path}")
        overflow = sam.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        assert not overflow, f"{path} scrolls sideways at phone width"
    shots.take(sam, "model-phone")


def test_ask_what_served_at_a_time_and_assign_a_request(
    site: Site, browser: object, shots: Shots
) -> None:
    sam = _open(browser, site, "sam")
    sam.goto(f"{site.url}/ui/models/toy")
    assert "toy serving now" in sam.inner_text("main")
    sam.fill("#at", "2000-01-01 00:00")
    sam.click("form.filters button")
    assert "did not exist yet" in sam.inner_text("main")
    shots.take(sam, "history-at")

    sam.goto(f"{site.url}/ui/requests?team=serving")
    card = "article.request:has-text('scale')"
    sam.select_option(f"{card} form[action$='/assign'] select", "sue")
    _send(sam, f"{card} form[action$='/assign']", "on call this week")
    assert "The request is assigned." in sam.inner_text("main")
    assert "Assigned to sue" in sam.inner_text(card)
    shots.take(sam, "assigned")

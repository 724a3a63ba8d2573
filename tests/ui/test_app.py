"""Every dashboard page over HTTP, against a real server and store: what it shows, who may
see it, its headers, and that stored text is shown as text."""

from __future__ import annotations

import io
import re
import tarfile

import pytest

from baton.ui.headers import CSP
from tests.ui.conftest import SCRIPT, Site

PAGES = [
    "/ui/",
    "/ui/?q=toy&team=research&verdict=failed&stage=none",
    "/ui/models/toy",
    "/ui/models/toy/versions/2",
    "/ui/models/evil/versions/1",
    "/ui/models/toy/rollouts/1",
    "/ui/models/toy/rollouts/2",
    "/ui/models/toy?at=1 hour ago",
    "/ui/ownership",
    "/ui/ownership?model=toy",
    "/ui/requests?team=serving",
    "/ui/audit?model=toy&action=request&team=marketing&since=2020-01-01",
    "/ui/serving",
    "/ui/exporters",
    "/ui/exporters?q=gpu",
    "/ui/exporters/dcgm-exporter",
]


@pytest.mark.parametrize("path", PAGES)
def test_each_page_needs_a_session_and_shows_when_signed_in(site: Site, path: str) -> None:
    anonymous = site.client().get(path)
    assert anonymous.status_code == 401
    assert "sign in" in anonymous.text.lower()
    assert 'action="/ui/signin"' in anonymous.text

    page = site.client("sam").get(path)
    assert page.status_code == 200, page.text
    assert page.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    # no script from anywhere else, and none inline: every <script> has a src or is data
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert 'src="/ui/static/' in tag or 'type="application/json"' in tag, tag


def test_models_page_filters_and_shows_verdicts_aliases_and_servers(site: Site) -> None:
    client = site.client("sam")
    page = client.get("/ui/").text
    assert "toy" in page and "evil" in page
    assert "research" in page
    failed = client.get("/ui/?verdict=failed").text  # toy's latest (3) failed
    assert 'href="/ui/models/toy"' in failed and 'href="/ui/models/evil"' not in failed
    never = client.get("/ui/?verdict=none").text
    assert 'href="/ui/models/evil"' in never and 'href="/ui/models/toy"' not in never
    nothing = client.get("/ui/?team=marketing").text
    assert "No model matches" in nothing
    bad = client.get("/ui/?verdict=maybe")
    assert bad.status_code == 400 and "unknown verdict" in bad.text


def test_version_page_shows_the_gate_and_carries_its_charts_as_data(site: Site) -> None:
    page = site.client("sam").get("/ui/models/toy/versions/2").text
    assert "accuracy 0.867 within 0.01 of the claimed 0.86" in page  # a check's reason
    assert page.count('class="plotly-figure"') == 2  # recall per class, confusion matrix
    assert '<script src="/ui/static/plotly.min.js">' in page
    assert "Claimed against measured" in page


def test_unknown_model_or_version_is_a_clear_404(site: Site) -> None:
    client = site.client("sam")
    missing = client.get("/ui/models/nosuch")
    assert missing.status_code == 404 and "unknown model &#39;nosuch&#39;" in missing.text
    version = client.get("/ui/models/toy/versions/99")
    assert version.status_code == 404 and "toy has no version 99" in version.text
    assert client.get("/ui/models/toy/versions/zero").status_code == 400
    assert client.get("/ui/nowhere").status_code == 404


def test_text_from_users_is_shown_as_text(site: Site) -> None:
    client = site.client("sam")
    escaped = "&lt;script&gt;window.__pwned = 1&lt;/script&gt;"
    version = client.get("/ui/models/evil/versions/1").text
    assert escaped in version and SCRIPT not in version
    inbox = client.get("/ui/requests?team=serving").text
    assert escaped in inbox and SCRIPT not in inbox
    assert "<script>window" not in client.get("/ui/audit").text


def test_exporter_page_and_its_download(site: Site) -> None:
    client = site.client("sam")
    page = client.get("/ui/exporters/node_exporter").text
    assert 'data-copy="scrape-job"' in page and "job_name" in page
    assert "apt-get install -y prometheus-node-exporter" in page
    got = client.get("/ui/exporters/node_exporter/download")
    assert got.headers["content-disposition"] == 'attachment; filename="node_exporter.tar.gz"'
    with tarfile.open(fileobj=io.BytesIO(got.content)) as tar:
        names = tar.getnames()
    assert "exporters/node_exporter/scrape.yaml" in names
    assert "exporters/node_exporter/rules.yaml" in names
    assert client.get("/ui/exporters/nosuch").status_code == 404
    assert client.get("/ui/exporters/..%2F..%2Fetc").status_code in (400, 404)


def test_assets_come_from_the_packages(site: Site) -> None:
    client = site.client()
    js = client.get("/ui/static/plotly.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert b"plotly" in js.content[:2000].lower()
    css = client.get("/ui/static/plotly.css").text
    assert ".js-plotly-plot .plotly .modebar" in css
    assert client.get("/ui/static/baton.css").status_code == 200
    assert client.get("/ui/static/..%2Fweb.py").status_code == 404
    assert client.get("/ui/static/nosuch.js").status_code == 404


def test_docs_work_offline(site: Site) -> None:
    client = site.client()
    page = client.get("/docs")
    assert page.status_code == 200
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert client.get("/openapi.json").json()["info"]["title"] == "baton control plane"


def test_the_api_still_wants_its_token(site: Site) -> None:
    client = site.client("sam")  # a dashboard session is not an API token
    assert client.get("/v1/models").status_code == 401

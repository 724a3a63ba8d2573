"""The docs site builds with --strict, the README's links lead somewhere, and the settings
page names every ``BATON_*`` setting there is (and no other)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from baton.config import Settings
from tests.docs.pages import ROOT

LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)\)")
SETTING = re.compile(r"\bBATON_[A-Z0-9_]*[A-Z0-9]\b")


def test_the_site_builds_strict_so_a_broken_link_or_anchor_fails(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--quiet", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").exists()


def test_every_relative_link_in_the_readme_leads_to_a_file() -> None:
    targets = [m.group("target") for m in LINK.finditer((ROOT / "README.md").read_text())]
    local = [t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")]
    assert "docs/img/audit-report.png" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_the_settings_page_names_every_setting_and_only_those() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(SETTING.findall(page))
    known = {f"BATON_{name.upper()}" for name in Settings.model_fields}
    missing, unknown = sorted(known - documented), sorted(documented - known)
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
    assert not unknown, f"docs/configuration.md names settings baton lacks: {unknown}"

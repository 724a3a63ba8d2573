"""The docs test's report: how many shown commands ran, and which were left out and why."""

from __future__ import annotations

import pytest

from tests.docs.markdown_blocks import PageError
from tests.docs.pages import all_pages, tally


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not any(
        "tests/docs" in report.nodeid
        for reports in terminalreporter.stats.values()
        for report in reports
        if hasattr(report, "nodeid")
    ):
        return
    try:
        lines = tally(all_pages())
    except PageError as error:  # the page's own test fails with it too
        lines = [f"docs: {error}"]
    for line in lines:
        terminalreporter.write_line(line)

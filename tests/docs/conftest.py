"""The docs test's report: how many shown commands ran, and which were left out and why."""

from __future__ import annotations

import pytest

from tests.docs.pages import all_pages, tally


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not any(
        "tests/docs" in report.nodeid
        for reports in terminalreporter.stats.values()
        for report in reports
        if hasattr(report, "nodeid")
    ):
        return
    for line in tally(all_pages()):
        terminalreporter.write_line(line)

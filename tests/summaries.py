"""A pytest plugin: what a test recorded as `record_property("summary", text)` (the soaks' seeds
and figures) is shown at the end of the run, passed or failed. A pytest-xdist worker's output is
not shown; its reports' properties reach the controller (tests/unit/test_summaries.py)."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each test's recorded summaries, under its node id."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            lines = [str(value) for name, value in report.user_properties if name == "summary"]
            if lines and report.when == "call":
                terminalreporter.write_sep("-", f"{report.nodeid}: {outcome}")
                for line in lines:
                    terminalreporter.write_line(line)

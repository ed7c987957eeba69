"""The demo (what scripts/demo runs after setting up the venv) on a fresh Airflow home."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_hpt.demo.run import last_weekly_dates
from tests.conftest import REPO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # a Friday: the last two Sundays
        (
            datetime(2026, 11, 27, 23, 0, tzinfo=UTC),
            [datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)],
        ),
        # the very moment @weekly fires counts as fired
        (
            datetime(2026, 11, 22, 0, 0, tzinfo=UTC),
            [datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)],
        ),
        # a Saturday night: not yet
        (
            datetime(2026, 11, 21, 23, 59, tzinfo=UTC),
            [datetime(2026, 11, 8, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC)],
        ),
    ],
)
def test_the_demo_runs_the_weeks_the_scheduler_would_have_run(
    now: datetime, expected: list[datetime]
) -> None:
    assert last_weekly_dates(2, now) == expected


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_demo_runs_two_chained_weeks_reports_and_draws(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    # what a previous run leaves behind: the demo starts over from an empty folder
    (workdir / "airflow").mkdir(parents=True)
    (workdir / "airflow" / "airflow.db").write_text("not a database")
    (workdir / "objective.png").write_text("stale")
    # the demo's own environment only: none of the test session's Airflow settings
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "AWS_"))}

    done = subprocess.run(
        [sys.executable, "-m", "airflow_hpt.demo", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    print(out)

    # progress lines while it runs, then the report
    for step in range(1, 7):
        assert f"[{step}/6]" in out
    assert re.search(r"training jobs finished", out)
    jobs = re.findall(r"^tuning job\s+\| (\S+)\s+\| (\S+)", out, re.MULTILINE)
    assert len(jobs) == 1
    first, second = jobs[0]
    parents = re.search(r"^warm-start parents\s+\| (.+?)\s+\| (\S+)", out, re.MULTILINE)
    assert parents is not None
    assert parents.groups() == ("none (first of the chain)", first)
    assert re.search(r"^training jobs\s+\| 8: ", out, re.MULTILINE)
    assert re.search(r"^best objective\s+\| validation:accuracy = 0\.\d{4}", out, re.MULTILINE)
    assert re.search(r"^deployed\s+\| digits-classifier created", out, re.MULTILINE)
    # what each week's tuning job consumed, priced (retrain_weekly sets instance_prices)
    assert re.search(r"^consumed\s+\| \d+ training s\s+\| \d+ training s$", out, re.MULTILINE)
    assert re.search(r"^\s+\| cost 0\.\d{4}\s+\| cost 0\.\d{4}$", out, re.MULTILINE)
    assert re.search(
        r"^Endpoint digits-classifier: InService, serving model retrain-weekly-", out, re.MULTILINE
    )
    assert second != first

    # the ending: the endpoint's answers on the held-out digits, and their accuracy
    assert re.search(
        r"^Predictions of digits-classifier on 200 held-out digits \(InvokeEndpoint\), the first 12:$",
        out,
        re.MULTILINE,
    )
    true_row = re.search(r"^  true digit \| (.+)$", out, re.MULTILINE)
    predicted_row = re.search(r"^  predicted  \| (.+?)(   \(! marks a wrong answer\))?$", out, re.MULTILINE)
    assert true_row is not None and predicted_row is not None
    true_digits = true_row.group(1).split()
    predicted = [digit.rstrip("!") for digit in predicted_row.group(1).split()]
    # the legend comes with a wrong answer only
    assert (predicted_row.group(2) is not None) == ("!" in predicted_row.group(1))
    assert len(true_digits) == len(predicted) == 12
    assert set(true_digits + predicted) <= set("0123456789")
    held_out = re.search(r"^Held-out accuracy: (\d\.\d{4}) \((\d+) of 200 right\)$", out, re.MULTILINE)
    assert held_out is not None
    # a model that passed the gate's 0.9 validation accuracy, on digits it never saw
    assert 0.8 <= float(held_out.group(1)) <= 1
    assert int(held_out.group(2)) == round(float(held_out.group(1)) * 200)

    chart = workdir / "objective.png"
    assert chart.read_bytes().startswith(PNG_MAGIC)
    assert chart.stat().st_size > 20_000
    assert f"Chart: {chart}" in out

"""tests/summaries.py on real pytest-xdist workers: a summary recorded by a passing and by a failing
test shows in the controller's output (the soaks print their seed and figures so)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TESTS = """
def test_passes(record_property):
    record_property("summary", "seed 4242 passed")


def test_fails(record_property):
    record_property("summary", "seed 1717 failed")
    assert False


def test_records_something_else(record_property):
    record_property("other", "not a summary")
"""


def test_summaries_of_passed_and_failed_tests_reach_the_controller(tmp_path: Path) -> None:
    (tmp_path / "test_recording.py").write_text(TESTS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTEST_XDIST_WORKER", None)  # this test may itself run on a worker
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "tests.summaries", "-p", "no:cacheprovider"),
            *("--basetemp", str(tmp_path / "basetemp"), "-n", "2", "--rootdir", str(tmp_path)),
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    summary = done.stdout[done.stdout.index("seed 4242") - 200 :]
    assert "test_recording.py::test_passes: passed" in summary
    assert "seed 4242 passed" in summary
    assert "test_recording.py::test_fails: failed" in summary
    assert "seed 1717 failed" in summary
    assert "not a summary" not in done.stdout

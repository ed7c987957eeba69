"""tests/xdist_groups.py on real pytest-xdist workers: a group, and a module sharing a module-scoped
fixture, each run on one worker (what keeps two soaks apart, and a module's backend set up once)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

GROUPED = """
import pytest

pytestmark = pytest.mark.xdist_group("soak")

{tests}
"""
MODULE_FIXTURE = """
import pytest


@pytest.fixture(scope="module")
def shared():
    return object()

{tests}
"""


def some_tests(count: int, argument: str = "") -> str:
    return "\n".join(f"def test_{index}({argument}):\n    pass\n" for index in range(count))


def test_groups_and_modules_with_a_module_fixture_each_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED.format(tests=some_tests(6)))
    (tmp_path / "test_module_fixture.py").write_text(MODULE_FIXTURE.format(tests=some_tests(6, "shared")))
    (tmp_path / "test_free.py").write_text(some_tests(6))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTEST_XDIST_WORKER", None)  # this test may itself run on a worker
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "tests.xdist_groups", "-p", "no:cacheprovider"),
            *("--basetemp", str(tmp_path / "basetemp"), "-n", "2", "--dist", "loadgroup"),
            *("--no-loadscope-reorder", "-v", "--rootdir", str(tmp_path), str(tmp_path)),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers: defaultdict[str, set[str]] = defaultdict(set)
    for worker, module in re.findall(r"\[(gw\d+)\] \[ *\d+%\] PASSED (test_\w+)\.py::", done.stdout):
        workers[module].add(worker)
    assert sum(done.stdout.count(f"{module}.py::") for module in workers) >= 18, done.stdout
    assert len(workers["test_grouped"]) == 1, done.stdout
    assert len(workers["test_module_fixture"]) == 1, done.stdout

"""The soak under faults (issue 6, item 1): 40 tuning tasks over four DAGs and two runs each, on real
Airflow processes and the local backend as its own process, with throttles, 5xx answers, the
triggerer SIGKILLed twice, crashes right after create, and the backend SIGKILLed and restarted.
Nothing may be duplicated, orphaned, lost or failed. The figures are printed as a table."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.soak.soak import EXPECTED_TASKS, SoakConfig, run_soak

# A new fault seed each run unless SOAK_SEED fixes one: the figures must hold for any seed. The seed
# is printed with the figures (pass or fail), so a run can be replayed (benchmarks/soak.py --seed N).
SEED = int(os.environ.get("SOAK_SEED") or random.SystemRandom().randrange(1, 1_000_000))
CONFIG = SoakConfig(fault_seed=SEED)

# one soak at a time, on one pytest-xdist worker (--dist loadgroup): each brings a whole Airflow and
# 40 tasks, and two at once on a 2-core machine would starve each other's processes
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("soak"),
    pytest.mark.timeout(CONFIG.budget_seconds + 120),
]


def test_soak_under_faults(
    tmp_path: Path, migrated_airflow_db: Path, record_property: Callable[[str, object], None]
) -> None:
    # in the run's summary, pass or fail, from a pytest-xdist worker too (tests/conftest.py)
    record_property("summary", "fault seed " + str(SEED))
    figures = run_soak(tmp_path, CONFIG, migrated_airflow_db)
    record_property("summary", figures.table())
    details = f"fault seed {SEED} (SOAK_SEED={SEED} replays it)\n" + "\n".join(figures.details)

    # every fault was injected while work was in flight
    assert figures.triggerer_kills == CONFIG.triggerer_kills
    assert figures.backend_restarts == CONFIG.backend_restarts
    assert figures.crashes_after_create == EXPECTED_TASKS // 4
    assert figures.connections_dropped > 0
    assert figures.transient_errors_retried > 0
    assert figures.connection_errors_retried > 0

    assert figures.tasks == EXPECTED_TASKS
    assert figures.jobs_created == figures.jobs_in_store == EXPECTED_TASKS, details
    assert figures.duplicates == 0, details
    assert figures.tasks_without_job == 0, details
    assert figures.orphans == 0, details
    assert figures.xcom_mismatches == 0, details
    assert figures.tasks_not_succeeded == 0, details
    assert figures.tries_failed_by_transient_faults == 0, details
    assert figures.retries_from_airflow_race == 0, details

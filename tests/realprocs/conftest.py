"""The real-process tests' shared setup: the local backend in-process (counting its calls), and one
Airflow with the `hpt_local_realprocs` DAG pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import CountingFaults
from tests.realprocs.harness import Airflow

DAG_ID = "hpt_local_realprocs"


@pytest.fixture
def faults() -> CountingFaults:
    return CountingFaults()


@pytest.fixture
def backend(tmp_path: Path, faults: CountingFaults) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(tmp_path / "sagemaker", faults=faults) as started:
        yield started


@pytest.fixture
def airflow(tmp_path: Path, backend: LocalSageMaker, migrated_airflow_db: Path) -> Iterator[Airflow]:
    instance = Airflow(
        tmp_path / "airflow", backend.endpoint_url, [f"{DAG_ID}.py"], migrated_db=migrated_airflow_db
    )
    try:
        yield instance
    finally:
        instance.stop_all()


def deferred_on_a_triggerer(airflow: Airflow) -> bool:
    """The DAG's task is deferred and a triggerer runs its trigger."""
    return bool(
        airflow.query(
            "select 1 from task_instance ti join trigger t on t.id = ti.trigger_id "
            "where ti.dag_id = ? and ti.state = 'deferred' and t.triggerer_id is not null",
            DAG_ID,
        )
    )

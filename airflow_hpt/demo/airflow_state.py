"""Read what a ``dag.test()`` run left in Airflow: task states, and XCom.

Imports Airflow: only for use after the demo has configured it.
"""

from __future__ import annotations

from typing import Any

from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session


def task_states(dag_run: DagRun) -> dict[str, str | None]:
    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.state).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
        )
        return {task_id: (str(state) if state is not None else None) for task_id, state in rows}


def xcom(dag_run: DagRun, task_id: str, key: str = "return_value") -> Any:
    with create_session() as session:
        row = (
            session.query(XComModel.value)
            .filter(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
            .one_or_none()
        )
    return None if row is None else XComModel.deserialize_value(row)

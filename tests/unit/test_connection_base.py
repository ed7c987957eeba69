"""One connection base (issue 24, item 3): every operator and the sensor take the four AWS
connection arguments from SageMakerTaskBase, template them alike, and take them from default_args;
the sensor imports nothing from operators/."""

from __future__ import annotations

import ast
import inspect
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG

import airflow_hpt.sensors.tuning
from airflow_hpt import CreateTuningJobOperator, DeployModelOperator, QualityGateOperator, TuningJobSensor
from airflow_hpt.aws_task import CONNECTION_FIELDS, SageMakerTaskBase

TASKS: dict[type, dict[str, Any]] = {
    CreateTuningJobOperator: {"request": {}},
    TuningJobSensor: {"tuning_job_name": "job"},
    DeployModelOperator: {"result": {}, "endpoint_name": "e", "image": "i", "execution_role_arn": "r"},
    QualityGateOperator: {"result": {}},
}


@pytest.mark.parametrize("task_class", TASKS, ids=lambda task_class: task_class.__name__)
def test_each_task_templates_the_four_connection_arguments(task_class: type) -> None:
    assert issubclass(task_class, SageMakerTaskBase)
    fields = list(task_class.template_fields)
    assert [field for field in fields if field in CONNECTION_FIELDS] == list(CONNECTION_FIELDS)
    assert len(fields) == len(set(fields))


@pytest.mark.parametrize("task_class", TASKS, ids=lambda task_class: task_class.__name__)
def test_default_args_reach_the_connection_arguments(task_class: type) -> None:
    defaults = {"aws_conn_id": "team", "region_name": "eu-west-1", "verify": False}
    with DAG("connection_base", schedule=None, start_date=datetime(2026, 1, 1), default_args=defaults):
        task = task_class(task_id="task", botocore_config={"read_timeout": 5}, **TASKS[task_class])
    assert (task.aws_conn_id, task.region_name, task.verify) == ("team", "eu-west-1", False)
    assert task.botocore_config == {"read_timeout": 5}
    assert task.hook.aws_conn_id == "team"


def test_the_sensor_imports_nothing_from_operators() -> None:
    tree = ast.parse(inspect.getsource(airflow_hpt.sensors.tuning))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {module for module in imported if module and module.startswith("airflow_hpt.operators")}

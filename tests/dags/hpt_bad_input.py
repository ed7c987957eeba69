"""Test DAGs with bad input: each task must fail with one clear error before anything is created.

`hpt_bad_input` has one independent task per kind of bad input (tests/integration/test_bad_input.py
runs it once and checks every task); `hpt_bad_param` has a `Param` schema that run conf can break.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_hpt import CreateTuningJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARAMS = {
    "strategy": "Bayesian",
    "max_jobs": "6",
    "max_parallel": 2,
    "eta_min": 0.01,
    "rounds": 50,
    "note": "weekly",
    "team": "ml",
}
# the file name of each broken template is the task id
BROKEN_TEMPLATES = {
    "missing_file": "templates/bad_missing.json.j2",  # does not exist
    "invalid_json": "templates/bad_json.json.j2",
    "invalid_yaml": "templates/bad_yaml.yaml.j2",
    "jinja_syntax": "templates/bad_jinja.json.j2",
    "undefined_variable": "templates/bad_undefined.json.j2",
    "invalid_request": "templates/bad_request.json.j2",
}
UNKNOWN_CONNECTION = "hpt_no_such_connection"

with DAG("hpt_bad_input", schedule=None, start_date=START, params=PARAMS) as bad_input_dag:
    for task_id, template in BROKEN_TEMPLATES.items():
        CreateTuningJobOperator(task_id=task_id, request=template, check_interval=0.1)
    CreateTuningJobOperator(
        task_id="unknown_connection",
        request="templates/moto_request.json.j2",
        aws_conn_id=UNKNOWN_CONNECTION,
        check_interval=0.1,
    )

with DAG(
    "hpt_bad_param",
    schedule=None,
    start_date=START,
    params={
        **PARAMS,
        "max_jobs": Param(6, type="integer", minimum=1, maximum=50, description="training jobs in all"),
    },
) as bad_param_dag:
    CreateTuningJobOperator(task_id="tune", request="templates/moto_request.json.j2", check_interval=0.1)

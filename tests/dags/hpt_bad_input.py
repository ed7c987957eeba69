"""Test DAGs with bad input: each task must fail with one clear error before anything is created.

`hpt_bad_input` has one independent task per kind of bad input (tests/integration/test_bad_input.py
runs it once and checks every task); `hpt_bad_param` has a `Param` schema that run conf can break.
`hpt_secrets_success` and `hpt_secrets_failure` carry secrets (tests/integration/test_secrets.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


# ---- Secrets (tests/integration/test_secrets.py): request leaves holding a connection's password and
# a sensitive variable, on the local backend. `params.scripts` must be the file:// URI of tests/local/scripts.


def _secret_request(**extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = json.loads(
        (Path(__file__).parent / "templates" / "local_quadratic.json.j2").read_text()
    )
    definition = request["TrainingJobDefinition"]
    definition["Environment"] = {
        "TRACKER_KEY": "{{ conn.hpt_tracker.password }}",  # a connection's password
        "TRACKER_API_KEY": "{{ var.value.hpt_tracker_api_key }}",  # a variable with a sensitive name
    }
    return {**request, **extra}


SECRET_PARAMS: dict[str, Any] = {
    "scripts": "file:///nonexistent",
    "max_jobs": 2,
    "parallel": 2,
    "epochs": 1,
    "sleep": 0,
    "fail": "false",
}

with DAG("hpt_secrets_success", schedule=None, start_date=START, params=SECRET_PARAMS) as secrets_success_dag:
    CreateTuningJobOperator(task_id="tune", request=_secret_request(), check_interval=0.3)

with DAG("hpt_secrets_failure", schedule=None, start_date=START, params=SECRET_PARAMS) as secrets_failure_dag:
    # the tracker's password (it holds a "!") breaks the tag value pattern: the error quotes the value
    CreateTuningJobOperator(
        task_id="invalid",
        request=_secret_request(Tags=[{"Key": "tracker", "Value": "{{ conn.hpt_tracker.password }}"}]),
        check_interval=0.3,
    )
    # credentials the backend refuses (HTTP 403)
    CreateTuningJobOperator(
        task_id="denied", request=_secret_request(), aws_conn_id="hpt_denied", check_interval=0.3
    )

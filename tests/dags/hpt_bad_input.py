"""Test DAGs with bad input: each task must fail with one clear error before anything is created.

`hpt_bad_input` has one independent task per kind of bad input (tests/integration/test_bad_input.py
runs it once and checks every task); `hpt_bad_param` has a `Param` schema that run conf can break.
`hpt_secrets_success` and `hpt_secrets_failure` carry secrets (tests/integration/test_secrets.py).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param

from airflow_hpt import CreateTuningJobOperator
from tests.dags.template_requests import (
    MOTO_PARAMS,
    MOTO_REQUEST,
    START,
    quadratic_params,
    quadratic_request,
)

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

with DAG("hpt_bad_input", schedule=None, start_date=START, params=MOTO_PARAMS) as bad_input_dag:
    for task_id, template in BROKEN_TEMPLATES.items():
        CreateTuningJobOperator(task_id=task_id, request=template, check_interval=0.1)
    CreateTuningJobOperator(
        task_id="unknown_connection",
        request=MOTO_REQUEST,
        aws_conn_id=UNKNOWN_CONNECTION,
        check_interval=0.1,
    )

with DAG(
    "hpt_bad_param",
    schedule=None,
    start_date=START,
    params={
        **MOTO_PARAMS,
        "max_jobs": Param(6, type="integer", minimum=1, maximum=50, description="training jobs in all"),
    },
) as bad_param_dag:
    CreateTuningJobOperator(task_id="tune", request=MOTO_REQUEST, check_interval=0.1)


# ---- Secrets (tests/integration/test_secrets.py): request leaves holding a connection's password and
# a sensitive variable, on the local backend. `params.scripts` must be the file:// URI of tests/local/scripts.


def _secret_request(**extra: Any) -> dict[str, Any]:
    request = quadratic_request()
    definition = request["TrainingJobDefinition"]
    definition["Environment"] = {
        "TRACKER_KEY": "{{ conn.hpt_tracker.password }}",  # a connection's password
        "TRACKER_API_KEY": "{{ var.value.hpt_tracker_api_key }}",  # a variable with a sensitive name
    }
    return {**request, **extra}


SECRET_PARAMS = quadratic_params()

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

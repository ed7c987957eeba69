"""Tuning tasks that give up at max_wait and stop their job: sync and deferrable.

The jobs' training jobs hold until `params.hold` exists (tests/local/scripts/quadratic.py), so they are
still running at the deadline; `params.scripts` is the file:// URI of tests/local/scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator

PARAMS = {
    "scripts": "file:///nonexistent",
    "max_jobs": 2,
    "parallel": 2,
    "epochs": 2,
    "sleep": 0,
    "fail": "false",
}
HELD_REQUEST: dict[str, Any] = json.loads(
    (Path(__file__).parent / "templates/local_quadratic.json.j2").read_text()
)
HELD_REQUEST["TrainingJobDefinition"]["StaticHyperParameters"]["hold"] = "{{ params.hold }}"

with DAG(
    "hpt_max_wait",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={**PARAMS, "hold": ""},
) as dag:
    CreateTuningJobOperator(task_id="sync", request=HELD_REQUEST, max_wait=2, check_interval=0.3)
    CreateTuningJobOperator(
        task_id="deferred",
        request=HELD_REQUEST,
        max_wait=2,
        check_interval=0.3,
        deferrable=True,
        min_deferral=0,
    )

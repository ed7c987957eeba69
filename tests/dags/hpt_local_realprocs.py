"""A deferred tuning task for the real-process test (tests/realprocs), which kills the triggerer while
it waits. `params.scripts` is the file:// URI of tests/local/scripts; `params.hold` a file that keeps
the training jobs running until it exists (quadratic.py --hold), so that the job is surely still
running when the triggerer is killed, however slow the machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator

REQUEST: dict[str, Any] = json.loads(
    (Path(__file__).parent / "templates" / "local_quadratic.json.j2").read_text()
)
REQUEST["TrainingJobDefinition"]["StaticHyperParameters"]["hold"] = "{{ params.hold }}"

with DAG(
    "hpt_local_realprocs",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={
        "scripts": "file:///nonexistent",
        "max_jobs": 2,
        "parallel": 2,
        "epochs": 3,
        "sleep": 0,
        "fail": "false",
        "hold": "",
    },
) as dag:
    CreateTuningJobOperator(task_id="tune", request=REQUEST, deferrable=True, check_interval=1)

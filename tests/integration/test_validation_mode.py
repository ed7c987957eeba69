"""validation="warn" runs a request strict mode refuses, and says so in the task log."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")

MAX_RESOURCE = "HyperParameterTuningJobConfig.StrategyConfig.HyperbandStrategyConfig.MaxResource"


def _job_names(client: Any) -> set[str]:
    summaries = client.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]
    return {job["HyperParameterTuningJobName"] for job in summaries}


def test_strict_mode_refuses_before_create(moto_sagemaker: Any, capfd: pytest.CaptureFixture[str]) -> None:
    before = _job_names(moto_sagemaker)
    dag_run = load_dag_module("testing/hpt_validation.py").strict_dag.test()
    assert task_states(dag_run) == {"tune": "failed"}
    console = "".join(capfd.readouterr())
    assert "InvalidTuningRequest" in console
    assert f"{MAX_RESOURCE}: is required: Hyperband cannot infer it" in console
    assert _job_names(moto_sagemaker) == before


def test_warn_mode_creates_the_job_and_logs_the_refusal_as_a_warning(
    moto_sagemaker: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = load_dag_module("testing/hpt_validation.py").warn_dag.test()
    assert task_states(dag_run) == {"tune": "success"}
    name = xcom(dag_run, "tune")["tuning_job_name"]
    described = moto_sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobConfig"]["Strategy"] == "Hyperband"
    warnings = [
        line
        for line in "".join(capfd.readouterr()).splitlines()
        if "warning" in line and "Request refusal let through (validation='warn')" in line
    ]
    assert len(warnings) == 1 and MAX_RESOURCE in warnings[0], warnings

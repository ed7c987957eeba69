"""Warm-start chains across runs, on the local backend: parents are found in SageMaker itself."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

from tests.conftest import REPO, load_dag_module
from tests.integration.airflow_state import task_states, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.slow]
SUBMIT_DIR = (REPO / "tests" / "local" / "scripts").as_uri()


def _run(dag_id: str, **conf: Any) -> tuple[str, dict[str, Any] | None]:
    dag = load_dag_module("testing/hpt_chain.py").dags[dag_id]
    dag_run = dag.test(run_conf={"submit_dir": SUBMIT_DIR, **conf})
    return task_states(dag_run)["tune"], xcom(dag_run, "tune")


def _forget_xcom(dag_id: str) -> None:
    with create_session() as session:
        session.query(XComModel).filter(XComModel.dag_id == dag_id).delete()


def _parents(client: Any, name: str) -> list[str]:
    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    config = described.get("WarmStartConfig") or {}
    return [
        parent["HyperParameterTuningJobName"] for parent in config.get("ParentHyperParameterTuningJobs", [])
    ]


def test_latest_chain_runs_cold_then_warm_and_skips_a_failed_run(local_sagemaker: Any) -> None:
    state1, run1 = _run("hpt_chain_latest", seed=1)
    assert state1 == "success" and run1 is not None
    assert run1["warm_start_parents"] == []

    state2, run2 = _run("hpt_chain_latest", seed=2)
    assert state2 == "success" and run2 is not None
    assert run2["warm_start_parents"] == [run1["tuning_job_name"]]
    assert _parents(local_sagemaker, run2["tuning_job_name"]) == [run1["tuning_job_name"]]

    state3, _ = _run("hpt_chain_latest", seed=3, fail="true")
    assert state3 == "failed"

    _forget_xcom("hpt_chain_latest")
    state4, run4 = _run("hpt_chain_latest", seed=4)
    assert state4 == "success" and run4 is not None
    assert run4["warm_start_parents"] == [run2["tuning_job_name"], run1["tuning_job_name"]]
    assert _parents(local_sagemaker, run4["tuning_job_name"]) == run4["warm_start_parents"]


def test_best_chain_carries_the_best_ancestor_forward(local_sagemaker: Any) -> None:
    runs = []
    for seed in (11, 12, 13):
        state, result = _run("hpt_chain_best", seed=seed)
        assert state == "success" and result is not None
        runs.append(result)
    _forget_xcom("hpt_chain_best")
    state, last = _run("hpt_chain_best", seed=14)
    assert state == "success" and last is not None
    # Each job's own best, as SageMaker reports it: the parent must be the lowest loss among them.
    own_best = {
        run["tuning_job_name"]: local_sagemaker.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=run["tuning_job_name"]
        )["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for run in runs
    }
    assert last["warm_start_parents"] == [min(own_best, key=lambda name: own_best[name])]


def test_limit_accounting_drops_parents_instead_of_failing(local_sagemaker: Any) -> None:
    # A target every training job reaches ends each job after its first training job.
    small = {"max_jobs": 3, "parallel": 1, "target": "1000"}
    parents = []
    for seed in (21, 22):
        state, result = _run("hpt_chain_limit", seed=seed, **small)
        assert state == "success" and result is not None
        parents.append(result)
    counts = [sum(run["training_job_counts"].values()) for run in parents]
    # Room for the newer parent only: the older one must be dropped.
    max_jobs = 750 - counts[1]
    assert max_jobs + sum(counts) > 750
    state, last = _run("hpt_chain_limit", seed=23, max_jobs=max_jobs, parallel=1, target="1000")
    assert state == "success" and last is not None
    assert last["warm_start_parents"] == [parents[1]["tuning_job_name"]]

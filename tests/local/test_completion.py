"""What SageMaker accepts, the backend runs: an omitted MaxNumberOfTrainingJobs, ConvergenceDetected,
RandomSeed, HyperbandStrategyConfig beside another strategy; and what it cannot run (Autotune) is
refused alone. Real boto3 client over loopback, real training jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker
from airflow_hpt.local.tuning.records import CONVERGENCE_MIN_JOBS, converged
from tests.local.conftest import held, make_client, quadratic_request, training_jobs, wait_for
from tests.local.test_api import assert_shape
from tests.local.test_lifecycle import wait_running

# every job gives the same loss: the best never improves after the first. The integer range is one
# quadratic.py ignores: with categorical ranges alone SageMaker refuses more jobs than combinations
ONE_CHOICE = {
    "CategoricalParameterRanges": [{"Name": "kind", "Values": ["b"]}],
    "IntegerParameterRanges": [{"Name": "ignored", "MinValue": "1", "MaxValue": "1000"}],
}


def tuned_in_launch_order(client: Any, name: str) -> list[dict[str, str]]:
    # training jobs are named <tuning job>-<NNN>-<hex>, NNN the launch number
    summaries = sorted(training_jobs(client, name), key=lambda summary: summary["TrainingJobName"])
    return [summary["TunedHyperParameters"] for summary in summaries]


def test_convergence_rule() -> None:
    flat = [1.0] * CONVERGENCE_MIN_JOBS
    assert not converged(flat[:-1], "Minimize")  # too few values to judge
    assert converged(flat, "Minimize")
    assert converged([2.0, 1.0, *[1.005] * (CONVERGENCE_MIN_JOBS - 2)], "Minimize")  # within 1 %
    still_improving = [*[2.0] * (CONVERGENCE_MIN_JOBS - 1), 1.0]
    assert not converged(still_improving, "Minimize")
    assert converged(still_improving, "Maximize")  # the best, 2.0, came in the first half


def test_omitted_max_training_jobs_runs_until_convergence_ends_it(client: Any) -> None:
    request = quadratic_request(
        "Converging",
        max_jobs=None,
        parallel=2,
        ranges=ONE_CHOICE,
        TuningJobCompletionCriteria={"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}},
    )
    client.create_hyper_parameter_tuning_job(**request)
    job = wait_for(client, "Converging")
    assert job["HyperParameterTuningJobStatus"] == "Completed", job
    assert "MaxNumberOfTrainingJobs" not in job["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert "ConvergenceDetectedTime" in job["TuningJobCompletionDetails"]
    launched = training_jobs(client, "Converging")
    # it ends once ten have an objective value; the other one running then is stopped
    succeeded = job["ObjectiveStatusCounters"]["Succeeded"]
    assert CONVERGENCE_MIN_JOBS <= succeeded <= len(launched) <= CONVERGENCE_MIN_JOBS + 1, launched


def test_convergence_disabled_is_reported_but_does_not_end_the_job(client: Any) -> None:
    request = quadratic_request(
        "NotStopping",
        max_jobs=CONVERGENCE_MIN_JOBS + 2,
        parallel=2,
        ranges=ONE_CHOICE,
        TuningJobCompletionCriteria={"ConvergenceDetected": {"CompleteOnConvergence": "Disabled"}},
    )
    client.create_hyper_parameter_tuning_job(**request)
    job = wait_for(client, "NotStopping")
    assert job["HyperParameterTuningJobStatus"] == "Completed", job
    assert "ConvergenceDetectedTime" in job["TuningJobCompletionDetails"]
    assert job["TrainingJobStatusCounters"]["Completed"] == CONVERGENCE_MIN_JOBS + 2


def test_omitted_max_training_jobs_ends_on_the_target_objective(client: Any) -> None:
    # every loss of quadratic.py is below 10
    request = quadratic_request(
        "Targeted",
        strategy="Bayesian",
        max_jobs=None,
        parallel=1,
        TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 10.0},
    )
    client.create_hyper_parameter_tuning_job(**request)
    job = wait_for(client, "Targeted")
    assert job["HyperParameterTuningJobStatus"] == "Completed", job
    assert job["TrainingJobStatusCounters"]["Completed"] == 1
    assert "ConvergenceDetectedTime" not in job["TuningJobCompletionDetails"]


@pytest.mark.parametrize("strategy", ["Bayesian", "Random"])
def test_the_same_random_seed_gives_the_same_first_hyperparameters(client: Any, strategy: str) -> None:
    parallel = 3
    runs = {}
    for name, seed in ((f"{strategy}Seed1", 11), (f"{strategy}Seed1Again", 11), (f"{strategy}Seed2", 12)):
        request = quadratic_request(name, strategy=strategy, max_jobs=parallel, parallel=parallel, seed=seed)
        client.create_hyper_parameter_tuning_job(**request)
        assert wait_for(client, name)["HyperParameterTuningJobStatus"] == "Completed"
        runs[seed, name.endswith("Again")] = tuned_in_launch_order(client, name)
    assert len(runs[11, False]) == parallel
    assert runs[11, False] == runs[11, True]
    assert runs[12, False] != runs[11, False]


def test_hyperband_strategy_config_with_another_strategy_is_accepted(client: Any) -> None:
    """SageMaker accepted it (terraform-provider-aws acceptance tests); it applies to Hyperband only."""
    request = quadratic_request(
        "BayesianWithHyperbandConfig",
        strategy="Bayesian",
        max_jobs=2,
        parallel=1,
        StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}},
    )
    client.create_hyper_parameter_tuning_job(**request)
    job = wait_for(client, "BayesianWithHyperbandConfig")
    assert job["HyperParameterTuningJobStatus"] == "Completed", job
    assert job["TrainingJobStatusCounters"]["Completed"] == 2


def test_autotune_is_refused_alone_naming_the_member(client: Any) -> None:
    """With Autotune SageMaker chooses the ranges and accepts no objective: the one refusal is the
    backend's own, Autotune."""
    request = quadratic_request("Autotuned")
    config = request["HyperParameterTuningJobConfig"]
    del config["ParameterRanges"], config["HyperParameterTuningJobObjective"]
    request["Autotune"] = {"Mode": "Enabled"}
    with pytest.raises(ClientError) as raised:
        client.create_hyper_parameter_tuning_job(**request)
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "(1 problem(s))" in error["Message"], error["Message"]
    assert "  - Autotune: the local backend does not support Autotune" in error["Message"]
    assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []


def test_convergence_detected_time_follows_the_service_model(backend: LocalSageMaker, client: Any) -> None:
    request = quadratic_request(
        "ConvergedShape",
        max_jobs=CONVERGENCE_MIN_JOBS,
        parallel=2,
        ranges=ONE_CHOICE,
        TuningJobCompletionCriteria={"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}},
    )
    client.create_hyper_parameter_tuning_job(**request)
    wait_for(client, "ConvergedShape")
    described = assert_shape(
        backend.endpoint_url,
        "DescribeHyperParameterTuningJob",
        {"HyperParameterTuningJobName": "ConvergedShape"},
    )
    details = described["TuningJobCompletionDetails"]
    assert set(details) == {"NumberOfTrainingJobsObjectiveNotImproving", "ConvergenceDetectedTime"}
    assert described["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] == {
        "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}
    }


def test_a_resumed_job_goes_on_with_its_seeded_sequence(home: Path, tmp_path: Path) -> None:
    """Interrupted by a restart, a Random job's replacements take the next draws of its seed, as an
    uninterrupted job launching as many would: not its first hyperparameters again."""
    release = tmp_path / "release"
    with LocalSageMaker(home) as first:
        client = make_client(first.endpoint_url)
        client.create_hyper_parameter_tuning_job(
            **quadratic_request("Resumed", max_jobs=4, parallel=2, static=held(release))
        )
        wait_running(client, "Resumed", 2)
    release.touch()
    with LocalSageMaker(home) as second:
        client = make_client(second.endpoint_url)
        assert wait_for(client, "Resumed")["HyperParameterTuningJobStatus"] == "Completed"
        resumed = tuned_in_launch_order(client, "Resumed")  # two interrupted, four replacements
        client.create_hyper_parameter_tuning_job(
            **quadratic_request("Uninterrupted", max_jobs=len(resumed), parallel=2)
        )
        assert wait_for(client, "Uninterrupted")["HyperParameterTuningJobStatus"] == "Completed"
        assert len(resumed) == 6
        assert resumed == tuned_in_launch_order(client, "Uninterrupted")

"""The local backend's settable quotas, answered at Create as SageMaker answers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_hpt.local import LocalSageMaker
from airflow_hpt.local.sagemaker.quotas import Quotas, reserved_instances
from tests.local.conftest import make_client, quadratic_request, wait_for


def test_max_parallel_training_jobs_is_settable(home: Path) -> None:
    with LocalSageMaker(home, max_parallel_training_jobs=2) as backend:
        client = make_client(backend.endpoint_url)
        with pytest.raises(client.exceptions.ResourceLimitExceeded) as raised:
            client.create_hyper_parameter_tuning_job(**quadratic_request("Three", max_jobs=3, parallel=3))
        assert "MaxParallelTrainingJobs 3 exceeds the account quota of 2" in str(raised.value)
        client.create_hyper_parameter_tuning_job(**quadratic_request("Two", max_jobs=2, parallel=2))
        listed = client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
        assert [job["HyperParameterTuningJobName"] for job in listed] == ["Two"]


def test_training_instances_are_reserved_until_the_tuning_job_ends(home: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    with LocalSageMaker(home, max_training_instances=3) as backend:
        client = make_client(backend.endpoint_url)
        client.create_hyper_parameter_tuning_job(
            **quadratic_request("Held", max_jobs=2, parallel=2, static={"hold": str(release)})
        )
        with pytest.raises(client.exceptions.ResourceLimitExceeded) as raised:
            client.create_hyper_parameter_tuning_job(**quadratic_request("Wide", max_jobs=2, parallel=2))
        assert (
            "'Number of instances across all training jobs' is 3 Instances, with current utilization of "
            "2 Instances and a request delta of 2 Instances"
        ) in str(raised.value)
        client.create_hyper_parameter_tuning_job(**quadratic_request("Narrow", max_jobs=1, parallel=1))
        release.touch()
        wait_for(client, "Held")
        wait_for(client, "Narrow")
        client.create_hyper_parameter_tuning_job(**quadratic_request("Wide", max_jobs=2, parallel=2))
        assert wait_for(client, "Wide")["HyperParameterTuningJobStatus"] == "Completed"


def test_a_reservation_is_parallel_jobs_times_the_widest_definition() -> None:
    request = quadratic_request("Wide", max_jobs=5, parallel=3)
    request["TrainingJobDefinition"]["ResourceConfig"]["InstanceCount"] = 4
    assert reserved_instances(request) == 12
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 2
    assert reserved_instances(request) == 8  # never more jobs at once than jobs in all


def test_quotas_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_training_instances must be at least 1"):
        Quotas(max_training_instances=0)

from __future__ import annotations

import json
from datetime import UTC, datetime

from airflow_hpt.result import base_result, progress_line, tuning_result

DESCRIBE = {
    "HyperParameterTuningJobName": "tune-1",
    "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/tune-1",
    "HyperParameterTuningJobStatus": "Completed",
    "HyperParameterTuningJobConfig": {
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
    },
    "CreationTime": datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
    "HyperParameterTuningEndTime": datetime(2026, 11, 27, 11, 0, tzinfo=UTC),
    "TrainingJobStatusCounters": {"Completed": 5, "InProgress": 0, "NonRetryableError": 1, "Stopped": 0},
    "BestTrainingJob": {
        "TrainingJobName": "tune-1-003-abcdef12",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/tune-1-003-abcdef12",
        "TunedHyperParameters": {"eta": "0.1", "depth": "4"},
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "Type": "Maximize",
            "MetricName": "validation:accuracy",
            "Value": 0.93,
        },
    },
    "WarmStartConfig": {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "tune-0"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    },
    "ResponseMetadata": {"RequestId": "x"},
}
TRAINING = {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/out/tune-1-003-abcdef12/output/model.tar.gz"}}


def test_result_is_small_json_safe_and_complete() -> None:
    result = tuning_result(DESCRIBE, TRAINING)
    assert json.loads(json.dumps(result)) == result
    assert result["best_training_job_name"] == "tune-1-003-abcdef12"
    assert result["best_training_job_arn"].endswith(":training-job/tune-1-003-abcdef12")
    assert result["objective_metric"] == "validation:accuracy"
    assert result["objective_type"] == "Maximize"
    assert result["objective_value"] == 0.93
    assert result["best_hyperparameters"] == {"eta": "0.1", "depth": "4"}
    assert result["model_artifacts"] == TRAINING["ModelArtifacts"]["S3ModelArtifacts"]
    assert result["training_job_counts"]["completed"] == 5
    assert result["training_job_counts"]["non_retryable_error"] == 1
    assert result["warm_start_parents"] == ["tune-0"]
    assert result["creation_time"] == "2026-11-27T10:00:00+00:00"
    assert "ResponseMetadata" not in json.dumps(result)


def test_overall_best_wins_for_warm_started_jobs() -> None:
    describe = {
        **DESCRIBE,
        "OverallBestTrainingJob": {
            "TrainingJobName": "tune-0-001-00000000",
            "TrainingJobArn": "arn:x",
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "MetricName": "validation:accuracy",
                "Value": 0.95,
            },
        },
    }
    result = tuning_result(describe)
    assert result["best_training_job_name"] == "tune-0-001-00000000"
    assert result["objective_value"] == 0.95
    assert result["model_artifacts"] is None


def test_base_result_and_progress_line() -> None:
    assert base_result(DESCRIBE) == {
        "tuning_job_name": "tune-1",
        "tuning_job_arn": DESCRIBE["HyperParameterTuningJobArn"],
        "status": "Completed",
    }
    line = progress_line(DESCRIBE)
    assert "tune-1: Completed" in line
    assert "5 completed" in line and "1 failed" in line and "(max 6)" in line
    assert "best validation:accuracy=0.93" in line

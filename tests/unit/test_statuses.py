"""The ended statuses are SageMaker's own: members of the service model's enums, and every other
member of each enum is a status in which the job still changes."""

from __future__ import annotations

import botocore.session
import pytest

from airflow_hpt.statuses import TRAINING_JOB_ENDED, TUNING_JOB_ENDED

STILL_CHANGING = {"InProgress", "Stopping", "Deleting"}


@pytest.mark.parametrize(
    ("shape", "ended"),
    [
        ("HyperParameterTuningJobStatus", TUNING_JOB_ENDED),
        ("TrainingJobStatus", TRAINING_JOB_ENDED),
        ("TransformJobStatus", TRAINING_JOB_ENDED),
    ],
)
def test_ended_statuses_split_sagemakers_enum(shape: str, ended: frozenset[str]) -> None:
    enum = set(botocore.session.get_session().get_service_model("sagemaker").shape_for(shape).enum)
    assert ended <= enum
    assert enum - ended <= STILL_CHANGING

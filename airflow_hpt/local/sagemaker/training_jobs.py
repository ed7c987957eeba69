"""The training job operations: Create, Describe, List and Stop.

Create validates the request against botocore's service model (min/max/pattern/enum, required and
unknown members, which botocore itself checks only in part) and refuses what the backend cannot
run, all problems in one ValidationException, before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from airflow_hpt.local.http.errors import Body, validation, value_errors_refused
from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.sagemaker.registry import Handler
from airflow_hpt.local.sagemaker.support import admit, training_job_problems
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.listing import fields_of, list_answer, named_record, refuse_taken_name
from airflow_hpt.local.state.records import Stored, TrainingJobBook
from airflow_hpt.local.state.store import Store
from airflow_hpt.local.training.runner import PROGRAM_HP, SUBMIT_DIR_HP, hyperparameter_text
from airflow_hpt.local.training.standalone import TrainingJobs
from airflow_hpt.local.tuning.answers import described_training_job
from airflow_hpt.local.tuning.engine import TuningEngine

_TRAINING_JOB_SUMMARY = (
    "TrainingJobName",
    "TrainingJobArn",
    "CreationTime",
    "TrainingEndTime",
    "LastModifiedTime",
    "TrainingJobStatus",
    "SecondaryStatus",
)


class TrainingJobOperations:
    """The handlers of the training job operations, standalone jobs and a tuning job's alike."""

    def __init__(self, store: Store, s3: LocalS3, training_jobs: TrainingJobs, engine: TuningEngine) -> None:
        self.store = store
        self.s3 = s3
        self.training_jobs = training_jobs
        self.engine = engine

    def operations(self) -> dict[str, Handler]:
        return {
            "CreateTrainingJob": self.create_training_job,
            "DescribeTrainingJob": self.describe_training_job,
            "ListTrainingJobs": self.list_training_jobs,
            "StopTrainingJob": self.stop_training_job,
        }

    def create_training_job(self, body: Body) -> Body:
        admit(body, "CreateTrainingJob", training_job_problems(body))
        check_locations(self.s3, body, "", "HyperParameters")
        name = body["TrainingJobName"]
        with self.store.transaction():
            refuse_taken_name(self.store, kinds.TRAINING_JOBS, name, "TrainingJobArn")
            arn = self.training_jobs.create(body, tags=list(body.get("Tags") or []))
        return {"TrainingJobArn": arn}

    def _training_job(self, body: Body) -> Stored[TrainingJobBook]:
        # SageMaker answers ValidationException, not ResourceNotFound: the amazon provider's
        # operators rely on that code to tell a free job name
        return named_record(
            self.store,
            kinds.TRAINING_JOBS,
            body,
            "TrainingJobName",
            lambda name: validation(f"Requested resource not found: training job {name}"),
        )

    def describe_training_job(self, body: Body) -> Body:
        return described_training_job(self._training_job(body))

    def list_training_jobs(self, body: Body) -> Body:
        return list_answer(
            self.store.all(kinds.TRAINING_JOBS),
            body,
            name_key="TrainingJobName",
            status_key="TrainingJobStatus",
            default_sort="CreationTime",
            default_order="Ascending",
            summaries_key="TrainingJobSummaries",
            summary=fields_of(_TRAINING_JOB_SUMMARY),
        )

    def stop_training_job(self, body: Body) -> Body:
        job = self._training_job(body)
        name = job.fields["TrainingJobName"]
        # both check the job is stoppable (training.stopping), as the job stands when the stop is asked
        with value_errors_refused():
            if job.book.standalone:
                self.training_jobs.stop(name)
            else:
                self.engine.stop_trial(name)
        return {}


def check_locations(
    s3: LocalS3, definition: Mapping[str, Any], member: str, hyperparameters: str = "StaticHyperParameters"
) -> None:
    """Refuse, before anything is created, a location that would leave the backend's home.

    The runner resolves the same locations the same way when a training job starts; checking
    here turns a job that could only fail (or worse, reach outside) into one clear error.
    """
    statics = definition.get(hyperparameters) or {}
    prefix = f"{member}." if member else ""
    locations = [
        (
            f"{prefix}{hyperparameters}.{SUBMIT_DIR_HP}",
            hyperparameter_text(statics[SUBMIT_DIR_HP]),
            s3.path_for,
        ),
        (
            f"{prefix}OutputDataConfig.S3OutputPath",
            definition["OutputDataConfig"]["S3OutputPath"],
            s3.object_path,
        ),
    ]
    for index, channel in enumerate(definition.get("InputDataConfig") or []):
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        locations.append(
            (f"{prefix}InputDataConfig[{index}].DataSource.S3DataSource.S3Uri", uri, s3.object_path)
        )
    for field, location, resolve in locations:
        try:
            resolve(location)
        except ValueError as error:
            raise validation(f"{field}: {error}") from None
    program = PurePosixPath(hyperparameter_text(statics[PROGRAM_HP]))
    if program.is_absolute() or ".." in program.parts:
        raise validation(
            f"{prefix}{hyperparameters}.{PROGRAM_HP}: {str(program)!r} must be a relative path "
            f"inside {SUBMIT_DIR_HP}, without '..' segments"
        )

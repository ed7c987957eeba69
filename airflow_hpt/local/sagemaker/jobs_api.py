"""The operations of standalone training jobs and batch transform jobs (the tuning ones: api.py).

Create validates the request against botocore's service model (min/max/pattern/enum, required and
unknown members, which botocore itself checks only in part) and refuses what the backend cannot
run, all problems in one ValidationException, before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from airflow_hpt.exceptions import InvalidTuningRequest, Problem
from airflow_hpt.local.hosting.transform import TransformJobs
from airflow_hpt.local.http.errors import Body, validation, value_errors_refused
from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.sagemaker.support import training_job_problems, transform_job_problems
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.listing import fields_of, list_answer, named_record, refuse_taken_name
from airflow_hpt.local.state.store import Record, Store, public
from airflow_hpt.local.training.runner import PROGRAM_HP, SUBMIT_DIR_HP, hyperparameter_text
from airflow_hpt.local.training.standalone import TrainingJobs
from airflow_hpt.request.validate import operation_problems

_TRANSFORM_SUMMARY = (
    "TransformJobName",
    "TransformJobArn",
    "CreationTime",
    "TransformEndTime",
    "LastModifiedTime",
    "TransformJobStatus",
    "FailureReason",
)


class JobsApi:
    """Handlers of CreateTrainingJob and of the transform job operations."""

    def __init__(
        self, store: Store, s3: LocalS3, training_jobs: TrainingJobs, transform_jobs: TransformJobs
    ) -> None:
        self.store = store
        self.s3 = s3
        self.training_jobs = training_jobs
        self.transform_jobs = transform_jobs

    def operations(self) -> dict[str, Any]:
        return {
            "CreateTrainingJob": self.create_training_job,
            "CreateTransformJob": self.create_transform_job,
            "DescribeTransformJob": self.describe_transform_job,
            "StopTransformJob": self.stop_transform_job,
            "ListTransformJobs": self.list_transform_jobs,
        }

    # --- training jobs -----------------------------------------------------------------------

    def create_training_job(self, body: Body) -> Body:
        _admit(body, "CreateTrainingJob", training_job_problems(body))
        check_locations(self.s3, body, "", "HyperParameters")
        name = body["TrainingJobName"]
        with self.store.transaction():
            refuse_taken_name(self.store, kinds.TRAINING_JOBS, name, "TrainingJobArn")
            arn = self.training_jobs.create(body, tags=list(body.get("Tags") or []))
        return {"TrainingJobArn": arn}

    def stop_training_job(self, name: str) -> None:
        with value_errors_refused():
            self.training_jobs.stop(name)

    # --- transform jobs ----------------------------------------------------------------------

    def create_transform_job(self, body: Body) -> Body:
        _admit(body, "CreateTransformJob", transform_job_problems(body))
        source = body["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        for member, uri in (
            ("TransformInput.DataSource.S3DataSource.S3Uri", source),
            ("TransformOutput.S3OutputPath", body["TransformOutput"]["S3OutputPath"]),
        ):
            try:
                self.s3.object_path(uri)
            except ValueError as error:
                raise validation(f"{member}: {error}") from None
        if self.store.get(kinds.MODELS, body["ModelName"]) is None:
            arn = kinds.arn_for(self.transform_jobs.region, kinds.MODELS, body["ModelName"])
            raise validation(f'Could not find model "{arn}".')
        name = body["TransformJobName"]
        with self.store.transaction():
            refuse_taken_name(self.store, kinds.TRANSFORM_JOBS, name, "TransformJobArn")
            arn = self.transform_jobs.create(body, tags=list(body.get("Tags") or []))
        return {"TransformJobArn": arn}

    def _transform_job(self, body: Body) -> Record:
        # SageMaker's answer (a ValidationException): the amazon provider relies on its code
        return named_record(
            self.store,
            kinds.TRANSFORM_JOBS,
            body,
            "TransformJobName",
            lambda name: validation(f"Could not find requested job with name {name}"),
        )

    def describe_transform_job(self, body: Body) -> Body:
        return public(self._transform_job(body))

    def stop_transform_job(self, body: Body) -> Body:
        record = self._transform_job(body)
        with value_errors_refused():
            self.transform_jobs.stop(record["TransformJobName"])
        return {}

    def list_transform_jobs(self, body: Body) -> Body:
        return list_answer(
            self.store.all(kinds.TRANSFORM_JOBS),
            body,
            name_key="TransformJobName",
            status_key="TransformJobStatus",
            default_sort="CreationTime",
            default_order="Descending",
            summaries_key="TransformJobSummaries",
            summary=fields_of(_TRANSFORM_SUMMARY),
        )


def _admit(body: Body, operation: str, unsupported: list[Problem]) -> None:
    """One ValidationException naming every member the service model or this backend refuses."""
    problems = [*operation_problems(body, operation), *unsupported]
    if problems:
        raise validation(str(InvalidTuningRequest(problems, operation)))


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

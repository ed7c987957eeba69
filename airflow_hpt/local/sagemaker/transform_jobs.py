"""The batch transform job operations: Create, Describe, Stop and List."""

from __future__ import annotations

from airflow_hpt.local.hosting.transform import TransformJobs
from airflow_hpt.local.http.errors import Body, validation, value_errors_refused
from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.sagemaker.registry import Handler
from airflow_hpt.local.sagemaker.support import admit, transform_job_problems
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.listing import fields_of, list_answer, named_record, refuse_taken_name
from airflow_hpt.local.state.records import Record
from airflow_hpt.local.state.store import Store

_TRANSFORM_SUMMARY = (
    "TransformJobName",
    "TransformJobArn",
    "CreationTime",
    "TransformEndTime",
    "LastModifiedTime",
    "TransformJobStatus",
    "FailureReason",
)


class TransformJobOperations:
    """The handlers of the batch transform job operations."""

    def __init__(self, store: Store, s3: LocalS3, transform_jobs: TransformJobs) -> None:
        self.store = store
        self.s3 = s3
        self.transform_jobs = transform_jobs

    def operations(self) -> dict[str, Handler]:
        return {
            "CreateTransformJob": self.create_transform_job,
            "DescribeTransformJob": self.describe_transform_job,
            "StopTransformJob": self.stop_transform_job,
            "ListTransformJobs": self.list_transform_jobs,
        }

    def create_transform_job(self, body: Body) -> Body:
        admit(body, "CreateTransformJob", transform_job_problems(body))
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
        ).fields

    def describe_transform_job(self, body: Body) -> Body:
        return self._transform_job(body)

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

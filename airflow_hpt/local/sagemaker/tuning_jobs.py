"""The tuning job operations: Create, Describe, List, ListTrainingJobsFor, Stop and Delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_hpt.definitions import training_job_definitions
from airflow_hpt.exceptions import InvalidTuningRequest
from airflow_hpt.local.http.errors import (
    RESOURCE_IN_USE,
    RESOURCE_LIMIT_EXCEEDED,
    ApiError,
    Body,
    not_found,
    validation,
    value_errors_refused,
)
from airflow_hpt.local.sagemaker.quotas import ACTIVE_STATUSES, Quotas
from airflow_hpt.local.sagemaker.registry import Handler
from airflow_hpt.local.sagemaker.support import not_run_here, unsupported_problems
from airflow_hpt.local.sagemaker.training_jobs import check_locations
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.listing import list_answer, named_record, refuse_taken_name
from airflow_hpt.local.state.listing import page as _page
from airflow_hpt.local.state.listing import sorted_by as _sorted
from airflow_hpt.local.state.listing import with_token as _with_token
from airflow_hpt.local.state.records import Record
from airflow_hpt.local.state.store import Store
from airflow_hpt.local.tuning.answers import described_tuning_job
from airflow_hpt.local.tuning.engine import TuningEngine, training_job_summary
from airflow_hpt.local.tuning.strategies import MAX_TRAINING_JOBS
from airflow_hpt.request import check_request, refusals, with_sagemaker_defaults
from airflow_hpt.statuses import TUNING_JOB_ENDED


class TuningJobOperations:
    """The handlers of the hyperparameter tuning job operations."""

    def __init__(self, store: Store, engine: TuningEngine, quotas: Quotas) -> None:
        self.store = store
        self.engine = engine
        self.region = engine.region
        self.quotas = quotas

    def operations(self) -> dict[str, Handler]:
        return {
            "CreateHyperParameterTuningJob": self.create_hyper_parameter_tuning_job,
            "DescribeHyperParameterTuningJob": self.describe_hyper_parameter_tuning_job,
            "ListHyperParameterTuningJobs": self.list_hyper_parameter_tuning_jobs,
            "ListTrainingJobsForHyperParameterTuningJob": self.list_training_jobs_for_tuning_job,
            "StopHyperParameterTuningJob": self.stop_hyper_parameter_tuning_job,
            "DeleteHyperParameterTuningJob": self.delete_hyper_parameter_tuning_job,
        }

    def create_hyper_parameter_tuning_job(self, body: Body) -> Body:
        request = _admitted(body)
        for member, definition in training_job_definitions(request):
            check_locations(self.engine.runner.s3, definition, member)
        name = request["HyperParameterTuningJobName"]
        refusal = self.quotas.request_refusal(request)
        if refusal:
            raise ApiError(RESOURCE_LIMIT_EXCEEDED, refusal)
        with self.store.transaction():
            refuse_taken_name(self.store, kinds.TUNING_JOBS, name, "HyperParameterTuningJobArn")
            active = [
                job
                for job in self.store.all(kinds.TUNING_JOBS)
                if job["HyperParameterTuningJobStatus"] in ACTIVE_STATUSES
            ]
            refusal = self.quotas.capacity_refusal(request, active)
            if refusal:
                raise ApiError(RESOURCE_LIMIT_EXCEEDED, refusal)
            self._check_warm_start(request)
            self.engine.create(request, tags=list(body.get("Tags") or []))
        arn = kinds.arn_for(self.region, kinds.TUNING_JOBS, name)
        return {"HyperParameterTuningJobArn": arn}

    def _check_warm_start(self, request: Mapping[str, Any]) -> None:
        warm_start = request.get("WarmStartConfig")
        if not warm_start:
            return
        objective = request["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective")
        parents_training_jobs = 0
        for parent_ref in warm_start["ParentHyperParameterTuningJobs"]:
            parent_name = parent_ref["HyperParameterTuningJobName"]
            parent = self.store.get(kinds.TUNING_JOBS, parent_name)
            if parent is None:
                raise not_found("parent tuning job", parent_name)
            if parent["HyperParameterTuningJobStatus"] not in TUNING_JOB_ENDED:
                raise validation(
                    f"Parent tuning job {parent_name} is {parent['HyperParameterTuningJobStatus']}: "
                    f"warm start needs parents in a terminal state ({', '.join(sorted(TUNING_JOB_ENDED))})"
                )
            parent_objective = parent["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective")
            if objective and parent_objective and parent_objective != objective:
                raise validation(
                    f"Parent tuning job {parent_name} optimizes {parent_objective}, this job optimizes "
                    f"{objective}: warm start needs the same objective metric"
                )
            parents_training_jobs += len(self.engine.training_jobs_of(parent_name))
        budget = request["HyperParameterTuningJobConfig"]["ResourceLimits"].get("MaxNumberOfTrainingJobs", 0)
        if parents_training_jobs + budget > MAX_TRAINING_JOBS:
            raise ApiError(
                RESOURCE_LIMIT_EXCEEDED,
                f"The parents' {parents_training_jobs} training jobs plus MaxNumberOfTrainingJobs {budget} "
                f"exceed the limit of {MAX_TRAINING_JOBS} training jobs per tuning job",
            )

    def _tuning_job(self, body: Body) -> Record:
        return named_record(
            self.store,
            kinds.TUNING_JOBS,
            body,
            "HyperParameterTuningJobName",
            lambda name: not_found("tuning job", name),
        ).fields

    def describe_hyper_parameter_tuning_job(self, body: Body) -> Body:
        return described_tuning_job(self._tuning_job(body))

    def list_hyper_parameter_tuning_jobs(self, body: Body) -> Body:
        # on the live records: hundreds of waiting triggers list them every interval
        return self.store.query(
            kinds.TUNING_JOBS,
            lambda jobs: list_answer(
                jobs,
                body,
                name_key="HyperParameterTuningJobName",
                status_key="HyperParameterTuningJobStatus",
                default_sort="Name",
                default_order="Ascending",
                summaries_key="HyperParameterTuningJobSummaries",
                summary=_tuning_job_summary,
            ),
        )

    def list_training_jobs_for_tuning_job(self, body: Body) -> Body:
        job = self._tuning_job(body)
        objective = job["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective", {})
        summaries = [
            training_job_summary(record, objective)
            for record in self.engine.training_jobs_of(job["HyperParameterTuningJobName"])
        ]
        if "StatusEquals" in body:
            summaries = [item for item in summaries if item["TrainingJobStatus"] == body["StatusEquals"]]
        sort_by = body.get("SortBy", "Name")
        order = body.get("SortOrder", "Ascending")
        if sort_by == "FinalObjectiveMetricValue":
            # As SageMaker documents: jobs without an objective value are left out of this order.
            summaries = [item for item in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in item]
            summaries.sort(
                key=lambda item: item["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                reverse=order == "Descending",
            )
        else:
            key = {"Name": "TrainingJobName", "CreationTime": "CreationTime", "Status": "TrainingJobStatus"}[
                sort_by
            ]
            summaries = _sorted(summaries, key, order)
        page, token = _page(summaries, body)
        return _with_token({"TrainingJobSummaries": page}, token)

    def stop_hyper_parameter_tuning_job(self, body: Body) -> Body:
        job = self._tuning_job(body)
        status = job["HyperParameterTuningJobStatus"]
        if status != "InProgress":
            raise validation(
                f"The request was rejected because the tuning job {job['HyperParameterTuningJobName']} "
                f"is in status {status}"
            )
        with value_errors_refused():  # it ended between the check and the stop
            self.engine.request_stop(job["HyperParameterTuningJobName"])
        return {}

    def delete_hyper_parameter_tuning_job(self, body: Body) -> Body:
        job = self._tuning_job(body)
        status = job["HyperParameterTuningJobStatus"]
        if status not in TUNING_JOB_ENDED:
            raise ApiError(
                RESOURCE_IN_USE,
                f"Tuning job {job['HyperParameterTuningJobName']} is {status}: only a Completed, Stopped or "
                "Failed tuning job can be deleted",
            )
        # As on SageMaker, the training jobs it launched stay describable.
        self.store.delete(kinds.TUNING_JOBS, job["HyperParameterTuningJobName"])
        return {}


def _admitted(body: Body) -> dict[str, Any]:
    """The request with SageMaker's defaults filled in, or one ValidationException naming every
    member that SageMaker's Create rules (the operator's refusals) or this backend refuse."""
    request, problems = check_request(body)
    refused = refusals(problems, "strict")
    warnings = [problem for problem in problems if problem not in refused]
    refused = [*refused, *not_run_here(warnings, body), *unsupported_problems(body)]
    if refused:
        raise validation(str(InvalidTuningRequest(refused)))
    return with_sagemaker_defaults(request)


def _tuning_job_summary(job: Record) -> Body:
    summary: Body = {
        field: job[field]
        for field in (
            "HyperParameterTuningJobName",
            "HyperParameterTuningJobArn",
            "HyperParameterTuningJobStatus",
            "CreationTime",
            "HyperParameterTuningEndTime",
            "LastModifiedTime",
            "TrainingJobStatusCounters",
            "ObjectiveStatusCounters",
        )
        if field in job
    }
    config = job["HyperParameterTuningJobConfig"]
    summary["Strategy"] = config["Strategy"]
    summary["ResourceLimits"] = config["ResourceLimits"]
    return summary

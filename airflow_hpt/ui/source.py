"""Where the "Tuning job" view gets its data, in the api-server: the task instance's tuning job from
Airflow's metadata database, and the job itself from SageMaker through the task's own connection.

Read-only: only Describe, List and ListTags calls. Transient SageMaker faults are retried as the
operator's hook retries them, but for a page's worth of time only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_hpt.tuning_view import view_data

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from airflow_hpt.hooks.tuning import TuningJobHook

# a request that meets throttling or 5xx gives up after this long (the page retries on its next refresh)
RETRY_SECONDS = 15.0
TUNING_TASK_TYPES = frozenset({"CreateTuningJobOperator", "TuningJobSensor"})
# the task's fields that say how it reaches SageMaker (its template fields, so Airflow renders and keeps them)
CONNECTION_FIELDS = ("aws_conn_id", "region_name", "verify", "botocore_config")


class NotFound(Exception):
    """The task instance, or its tuning job, is not there (yet)."""


class TaskTuningJob:
    """What the view needs of one task instance: its tuning job's name, connection fields and prices."""

    def __init__(self, name: str, fields: Mapping[str, Any]) -> None:
        self.name = name
        self.fields = fields

    @property
    def instance_prices(self) -> dict[str, float] | None:
        prices = self.fields.get("instance_prices")
        if not isinstance(prices, Mapping):
            return None
        return {str(kind): float(price) for kind, price in prices.items()}

    def hook(self) -> TuningJobHook:
        from airflow_hpt.hooks.tuning import TuningJobHook

        return TuningJobHook(
            aws_conn_id=self.fields.get("aws_conn_id", "aws_default"),
            region_name=self.fields.get("region_name") or None,
            verify=self.fields.get("verify"),
            config=self.fields.get("botocore_config") or None,
        )


def task_tuning_job(
    dag_id: str, run_id: str, task_id: str, map_index: int, session: Session
) -> TaskTuningJob:
    """The tuning job of a task instance, from its XCom (the extra link's, pushed as soon as the job is
    created, or the result) and its rendered fields (the sensor's job name, the connection fields)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    from airflow_hpt.links.tuning import TuningJobLink

    ti = session.scalar(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == map_index,
        )
    )
    if ti is None:
        raise NotFound(f"No task instance {dag_id}/{run_id}/{task_id} (map index {map_index})")
    if ti.operator not in TUNING_TASK_TYPES:
        raise NotFound(f"Task {task_id} is a {ti.operator}, not a tuning task: it has no tuning job")
    fields = RenderedTaskInstanceFields.get_templated_fields(ti, session=session) or {}
    rows = session.execute(
        select(XComModel.key, XComModel.value).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id == task_id,
            XComModel.map_index == map_index,
            XComModel.key.in_((TuningJobLink.key, "tuning_job_name", "return_value")),
        )
    ).all()
    values = {row.key: XComModel.deserialize_value(row) for row in rows}
    link = values.get(TuningJobLink.key)
    result = values.get("return_value")
    candidates = (
        link.get("job_name") if isinstance(link, Mapping) else None,
        values.get("tuning_job_name"),
        result.get("tuning_job_name") if isinstance(result, Mapping) else None,
        fields.get("tuning_job_name") if ti.operator == "TuningJobSensor" else None,
    )
    name = next((str(candidate) for candidate in candidates if candidate), None)
    if name is None:
        raise NotFound(f"Task instance {dag_id}/{run_id}/{task_id} has not created its tuning job (yet)")
    return TaskTuningJob(name, fields)


class _Ended:
    """Answers that no longer change (ended training jobs, ended parents' tags), kept across requests
    so that a refresh of a long search reads only what is new. Bounded; shared by all requests."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> Any:
        with self._lock:
            return self._items.get(key)

    def put(self, key: tuple[str, ...], value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


_ENDED = _Ended()
# what the consumption needs of a DescribeTrainingJob (the rest is not kept)
_USAGE_FIELDS = ("BillableTimeInSeconds", "ResourceConfig", "TrainingStartTime", "TrainingEndTime")


def _unless_gone(call: Callable[..., dict[str, Any]], operation: str, **kwargs: Any) -> dict[str, Any]:
    """The answer, or {} for a resource SageMaker no longer has (it keeps ended jobs for a while)."""
    from botocore.exceptions import ClientError

    from airflow_hpt.hooks.tuning import error_code

    try:
        return call(operation, **kwargs)
    except ClientError as error:
        if error_code(error) not in {"ValidationException", "ResourceNotFound"}:
            raise
        return {}


def read_view(job: TaskTuningJob) -> dict[str, Any]:
    """The view's data (airflow_hpt.tuning_view.view_data), read from SageMaker now."""
    hook = job.hook()

    def call(operation: str, **kwargs: Any) -> dict[str, Any]:
        return hook.call(operation, retry_for=RETRY_SECONDS, **kwargs)

    describe = call("describe_hyper_parameter_tuning_job", HyperParameterTuningJobName=job.name)
    arn = describe["HyperParameterTuningJobArn"]
    summaries: list[dict[str, Any]] = []
    query: dict[str, Any] = {"HyperParameterTuningJobName": job.name, "MaxResults": 100}
    while True:
        page = call("list_training_jobs_for_hyper_parameter_tuning_job", **query)
        summaries.extend(page["TrainingJobSummaries"])
        if not page.get("NextToken"):
            break
        query["NextToken"] = page["NextToken"]
    training_describes: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        if not summary.get("TrainingEndTime"):
            continue  # running: measured from its start time until it ends
        key = (arn, summary["TrainingJobName"])
        detail = _ENDED.get(key)
        if detail is None:
            full = _unless_gone(call, "describe_training_job", TrainingJobName=summary["TrainingJobName"])
            detail = {field: full[field] for field in _USAGE_FIELDS if field in full}
            _ENDED.put(key, detail)
        training_describes[summary["TrainingJobName"]] = detail
    parent_tags: dict[str, list[dict[str, str]]] = {}
    arn_prefix = arn.rsplit("/", 1)[0]
    for parent in (describe.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []:
        parent_arn = f"{arn_prefix}/{parent['HyperParameterTuningJobName'].lower()}"
        tags = _ENDED.get(("tags", parent_arn))
        if tags is None:
            tags = _unless_gone(call, "list_tags", ResourceArn=parent_arn).get("Tags", [])
            _ENDED.put(("tags", parent_arn), tags)
        parent_tags[parent["HyperParameterTuningJobName"]] = tags
    return view_data(
        describe, summaries, training_describes, parent_tags, datetime.now(tz=UTC), job.instance_prices
    )

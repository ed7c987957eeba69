"""SageMaker calls for tuning jobs, on the amazon provider's AWS connection handling."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from airflow_hpt.consumption import consumption, usage_of
from airflow_hpt.exceptions import (
    CapacityUnavailable,
    CreateNotConfirmed,
    TuningJobConflict,
    TuningJobNotStopped,
)
from airflow_hpt.naming import TAG_LINEAGE, fingerprint_of, tag_value
from airflow_hpt.result import TERMINAL_STATUSES, tuning_result
from airflow_hpt.retry import CREATE_RETRY_SECONDS, Backoff

T = TypeVar("T")

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
        "InternalError",
    }
)


class TruncatedResponse(Exception):
    """An empty success answer where the API always returns members: the connection ended mid-body.

    botocore reads a 200 whose body was cut short (the server died after its headers, or mid-JSON)
    as an empty answer, so the output shape's required members are the only sign.
    """


class IncompleteAnswer(Exception):
    """A success answer that came whole but leaves out a member SageMaker always returns: the
    endpoint does not speak SageMaker's API in full (an emulator), which no wait mends."""


def complete(client: Any, operation: str, response: dict[str, Any]) -> dict[str, Any]:
    """``response`` without ResponseMetadata, once it has every member the operation's output shape
    requires (botocore's service model). Without them: :class:`TruncatedResponse` if nothing came
    (botocore parses a body cut short to nothing), :class:`IncompleteAnswer` if something did."""
    response.pop("ResponseMetadata", None)
    api_name = client.meta.method_to_api_mapping[operation]
    output = client.meta.service_model.operation_model(api_name).output_shape
    missing = [member for member in (output.required_members if output else ()) if member not in response]
    if missing and not response:
        raise TruncatedResponse(f"{api_name} answered without {', '.join(missing)} (a cut-short answer)")
    if missing:
        raise IncompleteAnswer(
            f"{api_name} answered without {', '.join(missing)}, which SageMaker always returns: the "
            f"endpoint ({client.meta.endpoint_url}) does not implement this operation in full"
        )
    return response


def is_transient(error: BaseException) -> bool:
    """Throttling, 5xx and dropped connections: worth waiting out, never a reason to fail a task."""
    if isinstance(error, BotocoreConnectionError | HTTPClientError | TruncatedResponse):
        return True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _THROTTLING_CODES or status >= 500
    return False


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


_ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})


def stop_refused(name: str, error: ClientError) -> TuningJobNotStopped | None:
    """The error to raise when IAM refused StopHyperParameterTuningJob: the job is still running."""
    if error_code(error) not in _ACCESS_DENIED_CODES:
        return None
    return TuningJobNotStopped(
        f"Tuning job {name} was NOT stopped and keeps running (and costing) until it ends: the role may "
        f"not call sagemaker:StopHyperParameterTuningJob ({error_code(error)}: "
        f"{error.response.get('Error', {}).get('Message', '')}). Grant that action (docs/iam.md) or stop "
        "the job another way, e.g. `aws sagemaker stop-hyper-parameter-tuning-job "
        f"--hyper-parameter-tuning-job-name {name}`."
    )


@dataclass(frozen=True)
class CreatedJob:
    name: str
    arn: str
    reattached: bool


class TuningJobHook(AwsBaseHook):
    """Create, describe, stop and read the result of SageMaker hyperparameter tuning jobs.

    Takes the usual AWS hook arguments (``aws_conn_id``, ``region_name``, ``verify``, ``config``).
    Every call waits out transient faults (throttling, 5xx, dropped connections) with exponential
    backoff and jitter, for as long as they last unless the caller bounds it: a wait ends at its
    ``max_wait`` deadline, never because SageMaker was unavailable for a while.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "sagemaker"
        super().__init__(*args, **kwargs)

    def targets_aws(self) -> bool:
        """True when SageMaker calls go to AWS itself, not to an ``endpoint_url`` (the local backend,
        an emulator): none in the connection, nor in botocore's ``AWS_ENDPOINT_URL_SAGEMAKER`` or
        ``AWS_ENDPOINT_URL`` variables (unless ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true)."""
        if self.conn_config.get_service_endpoint_url(service_name="sagemaker"):
            return False
        if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
            return True
        return not (os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER") or os.environ.get("AWS_ENDPOINT_URL"))

    def call(self, operation: str, /, retry_for: float | None = None, **kwargs: Any) -> dict[str, Any]:
        """Call a SageMaker operation; the response loses ResponseMetadata.

        Transient faults are retried for `retry_for` seconds: None retries as long as they last, 0
        makes one attempt. The last transient error is raised when the time is up.
        """
        method: Callable[..., dict[str, Any]] = getattr(self.conn, operation)
        # a Create retried after a cut-short answer meets its own job (ResourceInUse): reattached
        return self._retry_transient(lambda: complete(self.conn, operation, method(**kwargs)), retry_for)

    def _retry_transient(self, attempt: Callable[[], T], retry_for: float | None) -> T:
        backoff = Backoff(base=1.0, cap=30.0)
        give_up_at = None if retry_for is None else time.monotonic() + retry_for
        while True:
            try:
                return attempt()
            except Exception as error:
                if not is_transient(error):
                    raise
                delay = backoff.next_delay()
                if give_up_at is not None:
                    remaining = give_up_at - time.monotonic()
                    if remaining <= 0:
                        raise
                    delay = min(delay, remaining)
                self.log.warning("Transient SageMaker error (%s); retrying in %.1fs", error, delay)
                time.sleep(delay)

    def create(
        self, operation: str, /, retry_for: float = CREATE_RETRY_SECONDS, **kwargs: Any
    ) -> dict[str, Any]:
        """A Create call, its transient faults retried for `retry_for` seconds at most; then
        :class:`CreateNotConfirmed`, which says what is known of the resource."""
        try:
            return self.call(operation, retry_for, **kwargs)
        except Exception as error:
            if not is_transient(error):
                raise
            api_name = self.conn.meta.method_to_api_mapping[operation]
            raise CreateNotConfirmed(
                f"{api_name} failed with transient errors (throttling, 5xx or dropped connections) for "
                f"{retry_for:g}s; gave up (last error: {error}). Whether SageMaker made the resource is "
                "unknown: a retry of the task reattaches to it if it did, and never creates a second one."
            ) from error

    def create_or_reattach(
        self, request: Mapping[str, Any], fingerprint: str, retry_for: float = CREATE_RETRY_SECONDS
    ) -> CreatedJob:
        """Create the job; if the name is taken by our own job (same fingerprint tag), reattach to it.

        Transient faults are retried for `retry_for` seconds (a retried Create that meets the job its
        lost answer made reattaches to it), then :class:`CreateNotConfirmed`.
        """
        name = request["HyperParameterTuningJobName"]
        try:
            response = self.create("create_hyper_parameter_tuning_job", retry_for, **request)
            return CreatedJob(name=name, arn=response["HyperParameterTuningJobArn"], reattached=False)
        except ClientError as error:
            if error_code(error) == "ResourceLimitExceeded":
                quota = str(error.response["Error"].get("Message", ""))
                raise CapacityUnavailable(
                    f"SageMaker refused tuning job {name!r}: an account quota is reached ({quota}). "
                    "Wait for running jobs to finish (capacity_wait does), lower MaxParallelTrainingJobs "
                    "or the instances, or ask AWS for a higher quota.",
                    quota,
                ) from error
            if error_code(error) != "ResourceInUse":
                raise
        existing = self.describe_tuning_job(name)
        arn = existing["HyperParameterTuningJobArn"]
        tags = self.call("list_tags", ResourceArn=arn).get("Tags", [])
        found = fingerprint_of(tags)
        if found != fingerprint:
            raise TuningJobConflict(
                f"A tuning job named {name!r} already exists ({arn}, status "
                f"{existing.get('HyperParameterTuningJobStatus')}) and was not created by this task "
                f"with this request (fingerprint {found or 'missing'}, expected {fingerprint}). "
                "Give the task another tuning_job_name, or remove HyperParameterTuningJobName from the "
                "request to let airflow-hpt derive a unique one."
            )
        self.log.info(
            "Tuning job %s already exists and is ours (an earlier try created it): reattaching", name
        )
        return CreatedJob(name=name, arn=arn, reattached=True)

    def lineage_jobs(
        self,
        lineage: str,
        *,
        name_contains: str | None,
        exclude: str,
        max_jobs: int = 50,
        max_pages: int = 10,
    ) -> list[dict[str, Any]]:
        """Describe the ended tuning jobs tagged with `lineage`, newest first (at most `max_jobs`).

        Read from SageMaker itself, so a chain survives the loss of earlier runs' XCom.
        """
        query: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100}
        if name_contains:
            query["NameContains"] = name_contains
        found: list[dict[str, Any]] = []
        for _ in range(max_pages):
            page = self.call("list_hyper_parameter_tuning_jobs", **query)
            for summary in page["HyperParameterTuningJobSummaries"]:
                name = summary["HyperParameterTuningJobName"]
                if (
                    name.lower() == exclude.lower()
                    or summary["HyperParameterTuningJobStatus"] not in TERMINAL_STATUSES
                ):
                    continue
                tags = self.call("list_tags", ResourceArn=summary["HyperParameterTuningJobArn"]).get(
                    "Tags", []
                )
                if tag_value(tags, TAG_LINEAGE) == lineage:
                    found.append(self.describe_tuning_job(name))
                    if len(found) >= max_jobs:
                        return found
            if not page.get("NextToken"):
                break
            query["NextToken"] = page["NextToken"]
        return found

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        return self.call("describe_hyper_parameter_tuning_job", HyperParameterTuningJobName=name)

    def stop_tuning_job(self, name: str, retry_for: float = 60.0) -> bool:
        """Ask SageMaker to stop the job; False when it had already ended (nothing to stop).

        Bounded in time: it runs while a task is being killed.
        """
        try:
            self.call(
                "stop_hyper_parameter_tuning_job", retry_for=retry_for, HyperParameterTuningJobName=name
            )
        except ClientError as error:
            if error_code(error) in {"ValidationException", "ResourceNotFound"}:
                self.log.info("Tuning job %s was not stopped: %s", name, error)
                return False
            refused = stop_refused(name, error)
            if refused is not None:
                self.log.error("%s", refused)
                raise refused from error
            raise
        self.log.info("Asked SageMaker to stop tuning job %s", name)
        return True

    def result_of(self, describe: Mapping[str, Any]) -> dict[str, Any]:
        """The result dict, with the best training job's model artifacts."""
        best = describe.get("OverallBestTrainingJob") or describe.get("BestTrainingJob")
        best_training_job = None
        best_name = (best or {}).get("TrainingJobName")
        if best_name:
            try:
                best_training_job = self.call("describe_training_job", TrainingJobName=best_name)
            except ClientError as error:
                if error_code(error) not in {"ValidationException", "ResourceNotFound"}:
                    raise
                self.log.warning(
                    "Best training job %s could not be described (%s): no model artifacts in the result",
                    best_name,
                    error,
                )
        return tuning_result(describe, best_training_job)

    def training_jobs_of(self, name: str, retry_for: float | None = None) -> list[dict[str, Any]]:
        """Every training job's summary, all pages of ListTrainingJobsForHyperParameterTuningJob."""
        query: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": 100}
        summaries: list[dict[str, Any]] = []
        while True:
            page = self.call("list_training_jobs_for_hyper_parameter_tuning_job", retry_for, **query)
            summaries.extend(page["TrainingJobSummaries"])
            if not page.get("NextToken"):
                return summaries
            query["NextToken"] = page["NextToken"]

    def describe_training_job(self, name: str, retry_for: float | None = None) -> dict[str, Any] | None:
        """DescribeTrainingJob; None when the job is gone (SageMaker keeps them for a limited time)."""
        try:
            return self.call("describe_training_job", retry_for, TrainingJobName=name)
        except ClientError as error:
            if error_code(error) not in {"ValidationException", "ResourceNotFound"}:
                raise
            return None

    def consumption_of(
        self, name: str, instance_prices: Mapping[str, float] | None, retry_for: float | None = None
    ) -> dict[str, Any]:
        """Training seconds, instance-hours and cost of the tuning job so far (airflow_hpt.consumption):
        one Describe per training job that has ended, for its billable seconds and instances."""
        describe = self.call(
            "describe_hyper_parameter_tuning_job", retry_for, HyperParameterTuningJobName=name
        )
        summaries = self.training_jobs_of(name, retry_for)
        now = datetime.now(tz=UTC)
        details = {
            summary["TrainingJobName"]: self.describe_training_job(summary["TrainingJobName"], retry_for)
            for summary in summaries
            if summary.get("TrainingEndTime")
        }
        usages = [
            usage
            for summary in summaries
            if (usage := usage_of(summary, describe, details.get(summary["TrainingJobName"]), now))
        ]
        return consumption(usages, instance_prices)

    def wait_for_terminal(
        self,
        name: str,
        check_interval: float,
        deadline: float | None,
        on_poll: Callable[[Mapping[str, Any]], None],
    ) -> dict[str, Any] | None:
        """Poll until the job is terminal; None when `deadline` (time.monotonic()) passes first.

        Transient faults are waited out until the deadline (forever without one): only the
        deadline ends a wait.
        """
        while True:
            retry_for = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                describe = self.call(
                    "describe_hyper_parameter_tuning_job",
                    retry_for=retry_for,
                    HyperParameterTuningJobName=name,
                )
            except Exception as error:
                if deadline is not None and is_transient(error) and time.monotonic() >= deadline:
                    return None
                raise
            on_poll(describe)
            if describe["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES:
                return describe
            if deadline is not None and time.monotonic() + check_interval > deadline:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                time.sleep(remaining)
                continue
            time.sleep(check_interval)


# --- async part: used by TuningJobTrigger in the triggerer's event loop -----------------------------


async def async_call(client: Any, operation: str, /, **kwargs: Any) -> dict[str, Any]:
    """One call on an aiobotocore SageMaker client; the response loses ResponseMetadata."""
    return complete(client, operation, await getattr(client, operation)(**kwargs))


async def async_retry_transient(
    attempt: Callable[[], Awaitable[T]],
    *,
    retry_for: float | None,
    on_retry: Callable[[BaseException, float], None],
    backoff: Backoff | None = None,
) -> T:
    """Await `attempt` until it succeeds, waiting out transient faults (None: for as long as they last).

    The wait is an `asyncio.sleep`: the event loop keeps serving every other trigger meanwhile.
    """
    backoff = backoff or Backoff(base=1.0, cap=60.0)
    give_up_at = None if retry_for is None else time.monotonic() + retry_for
    while True:
        try:
            return await attempt()
        except Exception as error:
            if not is_transient(error) or (give_up_at is not None and time.monotonic() >= give_up_at):
                raise
            delay = backoff.next_delay()
            if give_up_at is not None:
                delay = max(0.0, min(delay, give_up_at - time.monotonic()))
            on_retry(error, delay)
            await asyncio.sleep(delay)


async def async_stop_tuning_job(
    client: Any, name: str, retry_for: float, on_retry: Callable[[BaseException, float], None]
) -> bool:
    """StopHyperParameterTuningJob, bounded in time; False when the job had already ended."""
    try:
        await async_retry_transient(
            lambda: async_call(client, "stop_hyper_parameter_tuning_job", HyperParameterTuningJobName=name),
            retry_for=retry_for,
            on_retry=on_retry,
        )
    except ClientError as error:
        if error_code(error) in {"ValidationException", "ResourceNotFound"}:
            return False
        refused = stop_refused(name, error)
        if refused is not None:
            raise refused from error
        raise
    return True

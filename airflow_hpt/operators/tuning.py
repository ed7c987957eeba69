"""CreateTuningJobOperator: render, validate and start a SageMaker tuning job, then wait for it.

Kept light to import (DAG parse time): boto3, botocore and the AWS hooks load only when a task runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import BaseOperatorLink, conf

from airflow_hpt.aws_task import DEFAULT_MIN_DEFERRAL, SageMakerTaskBase, aws_template_fields, seconds
from airflow_hpt.exceptions import VALIDATION_MODES, Validation
from airflow_hpt.links.tuning import TuningJobLink, tuning_view_url
from airflow_hpt.operators._guardrails import GuardrailsMixin
from airflow_hpt.operators.request_template import RequestTemplate
from airflow_hpt.retry import CREATE_RETRY_SECONDS
from airflow_hpt.warmstart import WarmStart

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors.base import OperatorLineage
    from airflow.sdk import Context


class CreateTuningJobOperator(GuardrailsMixin, SageMakerTaskBase):
    """Start an Amazon SageMaker hyperparameter tuning job from a templated request.

    :param request: the CreateHyperParameterTuningJob request, as a dict or as the path of a
        ``.json``, ``.json.j2``, ``.yaml``, ``.yml`` or ``.yaml.j2`` file on the DAG's template search
        path. Each string leaf is a Jinja template rendered on its own (see docs/request.md).
    :param tuning_job_name: the job name; by default the request's, else one derived from the dag id,
        task id, run id and map index (the same for every try of a task instance).
    :param wait_for_completion: wait until the job ends; otherwise return name, ARN and status at once.
    :param check_interval: seconds between status polls.
    :param max_wait: give up waiting after this long (seconds or timedelta): the job is stopped and
        the task fails. None waits as long as the job runs.
    :param stop_on_kill: stop the tuning job when the task is killed or times out.
    :param fail_on_stopped: a job that ends Stopped fails the task (otherwise its result is returned).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param min_deferral: a deferred task resumes no sooner than this long (seconds or timedelta)
        after it deferred, however early the job ends: resuming sooner races Airflow's scheduler,
        which then fails the try (docs/waiting.md). Costs nothing on jobs that run for minutes.
    :param warm_start: a :class:`~airflow_hpt.warmstart.WarmStart` policy that picks the parents among
        earlier jobs of the lineage at run time; None keeps the request's own WarmStartConfig, if any.
    :param max_instance_hours: fail before Create when the request's worst case (README.md, "Budget
        cap") is over this many instance-hours; nothing is created.
    :param instance_prices: price per instance-hour by instance type (none is built in), to bound
        the cost too: logged, and checked against ``max_cost``; the result's ``consumption`` then has
        a ``cost`` (docs/consumption.md), and so has the "Tuning job" view.
    :param max_cost: fail before Create when the worst-case cost at ``instance_prices`` is over it.
    :param capacity_wait: while SageMaker refuses the Create for a full quota (ResourceLimitExceeded),
        try again with jittered backoff for this long (seconds or timedelta); a deferrable task waits
        in the triggerer. None (the default) fails at the first refusal.
    :param create_retry_timeout: how long (seconds or timedelta) the Create is retried while SageMaker
        answers with transient errors (throttling, 5xx, dropped connections); then the task fails with
        ``CreateNotConfirmed``. A job a lost answer hid is found again by a retry, never made twice.
    :param validation: ``"strict"`` (the default) fails before Create on the rules with evidence that
        SageMaker refuses and logs the other problems as warnings; ``"warn"`` logs every problem and
        refuses nothing, for the day a rule refuses what SageMaker accepts (docs/request.md).

    Asset outlets receive an event whose extra holds the best training job and its model artifacts.

    The AWS connection arguments (``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``,
    all templated) are :class:`~airflow_hpt.aws_task.SageMakerTaskBase`'s.
    """

    # instance_prices: read by the "Tuning job" view, which sees only what Airflow serializes
    template_fields: Sequence[str] = aws_template_fields("request", "tuning_job_name", "instance_prices")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **SageMakerTaskBase.template_fields_renderers,
        "request": "json",
    }
    operator_extra_links: tuple[BaseOperatorLink, ...] = (TuningJobLink(),)
    ui_color = "#d9ead3"

    def __init__(
        self,
        *,
        request: Mapping[str, Any] | str,
        tuning_job_name: str | None = None,
        wait_for_completion: bool = True,
        check_interval: float = 30,
        max_wait: timedelta | float | None = None,
        stop_on_kill: bool = True,
        fail_on_stopped: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        warm_start: WarmStart | None = None,
        min_deferral: timedelta | float = DEFAULT_MIN_DEFERRAL,
        max_instance_hours: float | None = None,
        instance_prices: Mapping[str, float] | None = None,
        max_cost: float | None = None,
        capacity_wait: timedelta | float | None = None,
        validation: Validation = "strict",
        create_retry_timeout: timedelta | float = CREATE_RETRY_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if validation not in VALIDATION_MODES:
            raise ValueError(f"validation must be one of {', '.join(VALIDATION_MODES)}, got {validation!r}")
        self.validation = validation
        self.create_retry_timeout = seconds(create_retry_timeout)
        self.request = RequestTemplate(request) if isinstance(request, str | Mapping) else request
        self.tuning_job_name = tuning_job_name
        self.wait_for_completion = wait_for_completion
        self.check_interval = check_interval
        self.max_wait = None if max_wait is None else seconds(max_wait)
        self.stop_on_kill = stop_on_kill
        self.fail_on_stopped = fail_on_stopped
        self.deferrable = deferrable
        self.warm_start = warm_start
        self.min_deferral = seconds(min_deferral)
        self.set_guardrails(max_instance_hours, max_cost, instance_prices, capacity_wait)
        self._job_name: str | None = None
        self._result: dict[str, Any] | None = None

    def prepare_request(self, context: Context) -> tuple[dict[str, Any], str]:
        """The validated request, with its name and ownership tags, and its fingerprint.

        Raises InvalidTuningRequest, listing every problem, before anything is created.
        """
        from airflow_hpt.naming import derive_job_name, ownership_tags, with_tags
        from airflow_hpt.request import fingerprint

        written = self.request.source if isinstance(self.request, RequestTemplate) else self.request
        # A dict is usable as written when execute() is called without Airflow's rendering (tests);
        # a template file needs rendering to be read at all.
        if not isinstance(written, Mapping):
            raise TypeError("request must be rendered before the task runs")
        # The amazon provider's hook turns an unknown connection into boto3's default credentials and
        # endpoint (real AWS) with a warning. Kept for the provider's default id (instance roles often
        # go without an `aws_default` connection); any other id that is not defined is a mistake.
        if self.aws_conn_id and self.aws_conn_id != "aws_default":
            from airflow.sdk import BaseHook
            from airflow.sdk.exceptions import AirflowNotFoundException

            from airflow_hpt.exceptions import UnknownConnection

            try:
                BaseHook.get_connection(self.aws_conn_id)
            except AirflowNotFoundException as error:
                raise UnknownConnection(
                    f"The AWS connection {self.aws_conn_id!r} (aws_conn_id) is not defined; no tuning "
                    "job was created. Define it, or pass aws_conn_id=None to use boto3's default "
                    "credentials."
                ) from error
        # Some rules hold only on AWS itself (the code must come from S3), not on an endpoint_url.
        target_is_aws = self.hook.targets_aws()
        request = self._checked(written, require_name=False, target_is_aws=target_is_aws, log=True)
        if self.warm_start is not None and "WarmStartConfig" in request:
            raise ValueError(
                "The request has its own WarmStartConfig and the task a warm_start policy: keep one of them"
            )
        run_id = context["run_id"]
        map_index = -1 if context["ti"].map_index is None else context["ti"].map_index
        name = (
            self.tuning_job_name
            or request.get("HyperParameterTuningJobName")
            or derive_job_name(self.dag_id, self.task_id, run_id, map_index)
        )
        request = {**request, "HyperParameterTuningJobName": name}
        # Fingerprinted before the policy adds parents: a retry may see more finished jobs than the
        # first try did, and must still recognise the job that try created.
        request_fingerprint = fingerprint(request)
        tags = ownership_tags(
            self.dag_id, self.task_id, run_id, map_index, request_fingerprint, self._lineage
        )
        return self._checked(with_tags(request, tags), target_is_aws=target_is_aws), request_fingerprint

    def _checked(
        self,
        request: Mapping[str, Any],
        *,
        require_name: bool = True,
        target_is_aws: bool = False,
        log: bool = False,
    ) -> dict[str, Any]:
        """The normalized request; raises InvalidTuningRequest, listing the problems ``validation``
        refuses, before anything is created. ``log`` logs the other problems as warnings first.

        Problems quote values ("got '...'"); a value may be a secret the masker knows (a connection
        password rendered into a leaf): masked in the exception itself, not only in the task log.
        """
        from airflow.sdk.log import redact

        from airflow_hpt.exceptions import InvalidTuningRequest
        from airflow_hpt.request import check_request, refusals

        normalized, problems = check_request(request, require_name=require_name, target_is_aws=target_is_aws)
        refused = refusals(problems, self.validation)
        for problem in problems if log else []:
            if problem not in refused:
                kind = (
                    "refusal let through (validation='warn')" if problem.severity == "refusal" else "warning"
                )
                self.log.warning("Request %s: %s", kind, redact(str(problem)))
        if refused:
            raise InvalidTuningRequest(refused).redacted(redact)
        return normalized

    @property
    def _lineage(self) -> str:
        policy = self.warm_start or WarmStart()
        return policy.lineage_key(self.dag_id, self.task_id)

    def _add_warm_start(self, request: dict[str, Any]) -> dict[str, Any]:
        """Find the parents the policy asks for in SageMaker, check them, and put them in the request."""
        from airflow_hpt.naming import readable_prefix
        from airflow_hpt.result import objective_of
        from airflow_hpt.warmstart import Candidate, check_compatible, select_parents, warm_start_config

        policy = self.warm_start
        if policy is None:
            return request
        name = request["HyperParameterTuningJobName"]
        prefix = readable_prefix(self.dag_id, self.task_id)
        describes = self.hook.lineage_jobs(
            self._lineage,
            name_contains=prefix if policy.lineage is None and name.startswith(prefix) else None,
            exclude=name,
        )
        limits = request["HyperParameterTuningJobConfig"].get("ResourceLimits", {})
        selection = select_parents(
            policy,
            [Candidate.from_describe(describe) for describe in describes],
            objective_type=objective_of(request)[1] or "Maximize",
            new_max_training_jobs=int(limits.get("MaxNumberOfTrainingJobs", 0)),
        )
        for skipped, why in selection.skipped.items():
            self.log.info("Warm start: not using %s (%s)", skipped, why)
        if selection.dropped_for_limit:
            self.log.warning(
                "Warm start: dropped %s to keep the parents' training jobs within the limit",
                ", ".join(selection.dropped_for_limit),
            )
        if not selection.parents:
            self.log.info(
                "Warm start: no earlier job of lineage %r to start from; this run starts cold", self._lineage
            )
            return request
        self.log.info(
            "Warm start (%s, select=%s): parents %s", policy.type, policy.select, ", ".join(selection.parents)
        )
        request = {**request, "WarmStartConfig": warm_start_config(policy, selection.parents)}
        by_name = {describe["HyperParameterTuningJobName"]: describe for describe in describes}
        check_compatible(request, [by_name[parent] for parent in selection.parents])
        return self._checked(request)

    def execute(self, context: Context) -> dict[str, Any]:
        return self.start(context)

    def start(
        self, context: Context, capacity_deadline: float | None = None, capacity_failures: int = 0
    ) -> dict[str, Any]:
        """Check, create (waiting for capacity if asked) and wait; a resume after a capacity pause too."""
        from airflow_hpt.result import base_result

        request, request_fingerprint = self.prepare_request(context)
        self.check_budget(request)
        request = self._add_warm_start(request)
        # known before the create call: a kill while it is in flight still stops the job
        self._job_name = request["HyperParameterTuningJobName"]
        created = self.create_within_capacity(
            request, request_fingerprint, capacity_deadline, capacity_failures
        )
        if not created.reattached:
            self.log.info("Created tuning job %s (%s)", created.name, created.arn)
        TuningJobLink.persist(
            context=context,
            operator=self,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            job_name=created.name,
            # the console has nothing to show of a job on another endpoint (the local backend)
            view_url=None if self.hook.targets_aws() else tuning_view_url(self, context),
        )
        if not self.wait_for_completion:
            result = self._result = base_result(self.hook.describe_tuning_job(created.name))
            self.push_keys(context, result)
            return result
        if self.deferrable:
            deadline = None if self.max_wait is None else time.time() + self.max_wait
            return self._finish_or_defer(context, created.name, deadline)
        return self._wait(context, created.name)

    def _finish_or_defer(self, context: Context, name: str, deadline: float | None) -> dict[str, Any]:
        """One look at the job: a job that ended needs no deferral (and no race with the scheduler)."""
        from airflow_hpt.result import TERMINAL_STATUSES, progress_line

        describe = self.hook.describe_tuning_job(name)
        self.log.info("%s", progress_line(describe))
        if describe["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES:
            return self.finish(context, describe)
        if deadline is not None and time.time() >= deadline:
            self.hook.stop_tuning_job(name)
            raise TimeoutError(
                f"Tuning job {name} did not finish within max_wait={self.max_wait}s; stopped it"
            )
        self._defer(context, name, deadline)

    def _defer(self, context: Context, name: str, deadline: float | None) -> NoReturn:
        from airflow_hpt.triggers.kill import mark_deferring_try
        from airflow_hpt.triggers.tuning import TuningJobTrigger

        if self.stop_on_kill:
            mark_deferring_try(context)

        self.defer(
            trigger=TuningJobTrigger(
                tuning_job_name=name, stop_on_kill=self.stop_on_kill, **self.wait_kwargs(deadline)
            ),
            method_name="execute_complete",
            # Read back if Airflow resumes the task without the trigger's event.
            kwargs={"tuning_job_name": name, "deadline": deadline},
            # The trigger enforces max_wait itself (it stops the job first); this is only a backstop.
            timeout=self.backstop_timeout(deadline),
        )

    def _wait(self, context: Context, name: str) -> dict[str, Any]:
        from airflow_hpt.result import progress_line

        deadline = None if self.max_wait is None else time.monotonic() + self.max_wait
        try:
            describe = self.hook.wait_for_terminal(
                name, self.check_interval, deadline, lambda d: self.log.info("%s", progress_line(d))
            )
        except KeyboardInterrupt:
            # Ctrl-C where execute() runs unsupervised (dag.test() in a terminal): nothing calls
            # on_kill then. Not AirflowTaskTimeout: on execution_timeout Airflow's task runner calls
            # on_kill itself (a second stop would only be refused), as its SIGTERM handler does for
            # a task marked failed or success.
            self._stop_if_asked(name)
            raise
        if describe is None:
            self.hook.stop_tuning_job(name)
            raise TimeoutError(
                f"Tuning job {name} did not finish within max_wait={self.max_wait}s; stopped it"
            )
        return self.finish(context, describe)

    def finish(self, context: Context, describe: Mapping[str, Any]) -> dict[str, Any]:
        """Turn a terminal Describe into the task's result, or its failure."""
        return self.conclude(context, self.hook.result_of(describe))

    def conclude(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """Hand the result off (or fail), and tell the asset outlets about the best model."""
        self.hand_off(context, result)
        self._result = result
        self._emit_asset_events(context, result)
        return result

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        tuning_job_name: str | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Resume after the trigger saw the job end (or gave up at max_wait, having stopped it): the
        job is described here, in the worker, and the task finishes with its result.

        Airflow can resume a deferred task without the trigger's event (docs/waiting.md): then the
        job itself is read, and the task finishes as the event would have made it, or defers again.
        """
        from airflow_hpt.triggers.tuning import ended_job

        if event:
            name = ended_job(event)
        else:
            name = tuning_job_name or self.prepare_request(context)[0]["HyperParameterTuningJobName"]
            self.log.warning("Resumed without the trigger's event: reading tuning job %s itself", name)
        self._job_name = name
        return self._finish_or_defer(context, name, deadline)

    def _emit_asset_events(self, context: Context, result: Mapping[str, Any]) -> None:
        from airflow_hpt.result import asset_extra

        extra = asset_extra(result)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra.update(extra)

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """The S3 channels of the rendered request, and what is known of the job (docs/lineage.md)."""
        from airflow_hpt.lineage import tuning_lineage
        from airflow_hpt.openlineage import operator_lineage

        return operator_lineage(tuning_lineage(self._rendered_request()))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """Adds the best model's artifacts as output, and the job's ARN and best value to the run facet."""
        from airflow_hpt.lineage import tuning_lineage
        from airflow_hpt.openlineage import operator_lineage

        return operator_lineage(tuning_lineage(self._rendered_request(), self._result))

    def _rendered_request(self) -> Mapping[str, Any]:
        # Airflow renders the request (a callable template field) before the task runs, and again
        # when a deferred task resumes: the request as sent, warm start parents aside.
        return self.request if isinstance(self.request, Mapping) else {}

    def _stop_if_asked(self, name: str | None) -> None:
        if self.stop_on_kill and name:
            self.hook.stop_tuning_job(name)

    def on_kill(self) -> None:
        self._stop_if_asked(self._job_name)

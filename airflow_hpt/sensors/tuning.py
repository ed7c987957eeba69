"""TuningJobSensor: wait for a tuning job that another task, DAG or tool created.

Kept light to import (DAG parse time): boto3, botocore and the AWS hooks load only when a task runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_hpt.aws_task import DEFAULT_MIN_DEFERRAL, SageMakerTaskBase, aws_template_fields, seconds

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors.base import OperatorLineage
    from airflow.sdk import Context


class TuningJobSensor(SageMakerTaskBase, BaseSensorOperator):
    """Wait until a SageMaker hyperparameter tuning job ends; return its result.

    Same status rule, result dict and XCom keys as ``CreateTuningJobOperator``: a Failed job fails
    the task, a Stopped one too unless ``fail_on_stopped=False``.

    :param tuning_job_name: the job to wait for (templated).
    :param fail_on_stopped: a job that ends Stopped fails the task (otherwise its result is returned).
    :param stop_on_kill: stop the job when the task is killed. Off by default: the sensor did not
        create the job.
    :param deferrable: wait in the triggerer (``poke_interval`` is then the poll interval, and
        ``timeout`` the deferral's timeout).
    :param min_deferral: a deferred sensor resumes no sooner than this long (seconds or timedelta)
        after it deferred (see ``CreateTuningJobOperator``).
    :param instance_prices: price per instance-hour by instance type: the result's ``consumption``
        then has a ``cost`` (docs/consumption.md), and so has the "Tuning job" view.

    The AWS connection arguments (``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``,
    all templated) are :class:`~airflow_hpt.aws_task.SageMakerTaskBase`'s.
    """

    # instance_prices: read by the "Tuning job" view, which sees only what Airflow serializes
    template_fields: Sequence[str] = aws_template_fields("tuning_job_name", "instance_prices")
    ui_color = "#d9ead3"

    def __init__(
        self,
        *,
        tuning_job_name: str,
        fail_on_stopped: bool = True,
        stop_on_kill: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: timedelta | float = 30,
        min_deferral: timedelta | float = DEFAULT_MIN_DEFERRAL,
        instance_prices: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.check_interval = self.poke_interval  # the trigger's poll interval when deferred
        self.tuning_job_name = tuning_job_name
        self.fail_on_stopped = fail_on_stopped
        self.stop_on_kill = stop_on_kill
        self.deferrable = deferrable
        self.min_deferral = seconds(min_deferral)
        self.instance_prices = None if instance_prices is None else dict(instance_prices)
        self._describe: dict[str, Any] | None = None
        self._result: dict[str, Any] | None = None

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        return self._finish_or_defer(context, timeout_at=time.time() + self.timeout)

    def _finish_or_defer(self, context: Context, timeout_at: float) -> Any:
        """The result of a job that already ended (no deferral needed); otherwise defer until
        ``timeout_at``, an epoch time kept across resumes so that the sensor's ``timeout`` counts
        from its first deferral."""
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        left = timeout_at - time.time()
        if left <= 0:
            from airflow.sdk.exceptions import AirflowSensorTimeout

            raise AirflowSensorTimeout(
                f"Sensor timed out after {self.timeout} s: tuning job {self.tuning_job_name} has not "
                "ended (it keeps running)"
            )
        from airflow_hpt.triggers.kill import mark_deferring_try
        from airflow_hpt.triggers.tuning import TuningJobTrigger

        if self.stop_on_kill:
            mark_deferring_try(context)
        self.defer(
            trigger=TuningJobTrigger(
                tuning_job_name=self.tuning_job_name,
                stop_on_kill=self.stop_on_kill,
                # The sensor's timeout is Airflow's deferral timeout: it fails the task and, like
                # a poke-mode timeout, leaves the job running.
                **self.wait_kwargs(deadline=None),
            ),
            method_name="execute_complete",
            kwargs={"timeout_at": timeout_at},
            timeout=timedelta(seconds=left),
        )

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_hpt.result import TERMINAL_STATUSES, progress_line

        describe = self.hook.describe_tuning_job(self.tuning_job_name)
        self.log.info("%s", progress_line(describe))
        if describe["HyperParameterTuningJobStatus"] not in TERMINAL_STATUSES:
            return PokeReturnValue(is_done=False)
        self._describe = describe
        self._result = self.hand_off(context, self.hook.result_of(describe))
        return PokeReturnValue(is_done=True, xcom_value=self._result)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, timeout_at: float | None = None
    ) -> Any:
        """Resume after the trigger saw the job end: the job is described here, in the worker.

        Airflow can resume a deferred task without the trigger's event (docs/waiting.md): then the
        sensor looks at the job itself, and finishes or defers again for what is left of its timeout.
        """
        from airflow_hpt.triggers.tuning import ended_job

        if event:
            ended_job(event)  # a timeout or error raises; an ended job is read below
        else:
            self.log.warning(
                "Resumed without the trigger's event: reading tuning job %s itself", self.tuning_job_name
            )
        return self._finish_or_defer(
            context, timeout_at=time.time() + self.timeout if timeout_at is None else timeout_at
        )

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """The job's S3 channels and what is known of it: the sensor did not create it, so it asks."""
        from airflow_hpt.lineage import tuning_lineage
        from airflow_hpt.openlineage import operator_lineage

        return operator_lineage(tuning_lineage(self._describe_for_lineage()))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """Adds the best model's artifacts as output, and the best value to the run facet."""
        from airflow_hpt.lineage import tuning_lineage
        from airflow_hpt.openlineage import operator_lineage

        return operator_lineage(tuning_lineage(self._describe_for_lineage(), self._result))

    def _describe_for_lineage(self) -> dict[str, Any]:
        """The Describe the sensor saw, or a new one (a deferred sensor resumes with the result only).

        Lineage must never fail the task: an error leaves the datasets out, with a warning.
        """
        if self._describe is None:
            try:
                self._describe = self.hook.describe_tuning_job(self.tuning_job_name)
            except Exception as error:
                self.log.warning(
                    "No lineage inputs: tuning job %s could not be described (%s)",
                    self.tuning_job_name,
                    error,
                )
                return {"HyperParameterTuningJobName": self.tuning_job_name}
        return self._describe

    def on_kill(self) -> None:
        if self.stop_on_kill:
            self.hook.stop_tuning_job(self.tuning_job_name)

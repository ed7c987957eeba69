"""What every operator and the sensor share: the AWS connection arguments (one base, templated
alike, as the amazon provider's ``AwsBaseOperator`` and ``aws_template_fields`` do), the hook and the
tuning result handoff."""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_hpt.hooks.tuning import TuningJobHook


# A deferred task resumes no sooner than this after it deferred: Airflow's scheduler fails a try that
# the trigger resumes before the executor reported the deferring process (docs/waiting.md).
DEFAULT_MIN_DEFERRAL = 10.0


# transient faults while reading what a job consumed are retried this long per call, then given up
CONSUMPTION_RETRY_SECONDS = 10.0


def seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def as_result(value: Any) -> dict[str, Any]:
    """The tuning result dict, whether it came as an XComArg (a dict) or a rendered template (a string).

    A template like ``{{ ti.xcom_pull(task_ids='tune') }}`` renders a dict as its Python repr unless the
    DAG renders native objects, so both JSON and Python literals are read.
    """
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = ast.literal_eval(value)
        if isinstance(parsed, Mapping):
            return dict(parsed)
    raise TypeError(f"expected the tuning result (a dict from CreateTuningJobOperator), got {value!r:.120}")


# The connection arguments every task of this package takes, and templates.
CONNECTION_FIELDS = ("aws_conn_id", "region_name", "verify", "botocore_config")


def aws_template_fields(*fields: str) -> tuple[str, ...]:
    """A task's own template fields, then the four connection arguments: each once."""
    return tuple(dict.fromkeys((*fields, *CONNECTION_FIELDS)))


class SageMakerTaskBase(BaseOperator):
    """The base of every operator and the sensor: the AWS connection arguments, the hook on them and
    the result handoff. A ``BaseOperator``, so that ``default_args`` reach the connection arguments.

    :param aws_conn_id: Airflow AWS connection (the amazon provider's; ``endpoint_url`` extra honoured).
    :param region_name: AWS region; by default the connection's.
    :param verify: TLS verification, as for the amazon provider's hooks.
    :param botocore_config: botocore ``Config`` parameters as a dict.
    """

    template_fields_renderers: ClassVar[dict[str, str]] = {"botocore_config": "json"}
    check_interval: float
    min_deferral: float = DEFAULT_MIN_DEFERRAL
    fail_on_stopped: bool = True
    # price per instance-hour by instance type: the result's consumption then has a cost
    instance_prices: dict[str, float] | None = None

    def __init__(
        self,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def wait_kwargs(self, deadline: float | None) -> dict[str, Any]:
        """The arguments every wait trigger takes (airflow_hpt/triggers/base.py) for a deferral now:
        this task's connection and poll interval, ``deadline``, and no event before ``min_deferral``."""
        return {
            **{field: getattr(self, field) for field in CONNECTION_FIELDS},
            "check_interval": self.check_interval,
            "deadline": deadline,
            "not_before": time.time() + self.min_deferral,
        }

    def backstop_timeout(self, deadline: float | None) -> timedelta | None:
        """Airflow's deferral timeout for a trigger that enforces ``deadline`` itself: a few
        intervals later, so that it fires only if the trigger could not."""
        if deadline is None:
            return None
        return timedelta(seconds=max(0.0, deadline - time.time()) + 10 * self.check_interval)

    @cached_property
    def hook(self) -> TuningJobHook:
        from airflow_hpt.hooks.tuning import TuningJobHook

        return TuningJobHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def hand_off(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """Fail on a Failed (or Stopped) job; otherwise log, push the XCom keys and return the result."""
        from airflow_hpt.result import raise_for_status

        raise_for_status(result, fail_on_stopped=self.fail_on_stopped)
        result["consumption"] = self.consumption(result["tuning_job_name"])
        self.log.info(
            "Tuning job %s %s: best training job %s, %s=%s",
            result["tuning_job_name"],
            result["status"],
            result["best_training_job_name"],
            result["objective_metric"],
            result["objective_value"],
        )
        self.push_keys(context, result)
        return result

    def consumption(self, name: str) -> dict[str, Any] | None:
        """What the job consumed (docs/consumption.md); None, with a warning, when SageMaker does not
        tell (the role may not list or describe training jobs, an emulator lacks the call, a fault
        outlasts CONSUMPTION_RETRY_SECONDS): a figure for the record never fails nor holds up the task."""
        from botocore.exceptions import BotoCoreError, ClientError

        from airflow_hpt.hooks.tuning import IncompleteAnswer, TruncatedResponse

        try:
            spent = self.hook.consumption_of(name, self.instance_prices, CONSUMPTION_RETRY_SECONDS)
        except (ClientError, BotoCoreError, IncompleteAnswer, TruncatedResponse) as error:
            self.log.warning("Tuning job %s: no consumption figures (%s)", name, error)
            return None
        cost = "" if spent["cost"] is None else f", cost {spent['cost']}"
        self.log.info(
            "Tuning job %s consumed %s training seconds, %s instance-hours%s",
            name,
            spent["training_seconds"],
            spent["instance_hours"],
            cost,
        )
        return spent

    def push_keys(self, context: Context, result: Mapping[str, Any]) -> None:
        from airflow_hpt.result import XCOM_KEYS

        if not self.do_xcom_push:
            return
        for key in XCOM_KEYS:
            if key in result:
                context["ti"].xcom_push(key=key, value=result[key])

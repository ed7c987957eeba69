"""TuningJobTrigger: wait for a SageMaker tuning job in the triggerer, without a worker slot.

Many triggers in one event loop share their polling (airflow_hpt/triggers/shared_poll.py): one
List call tells up to 100 waiting triggers their jobs' status; only a job that ended is described.

The event says only that the job ended, and how: the resumed task describes the job and builds
its result in the worker. A burst of hundreds of jobs ending together thus costs the triggerer a
List page per hundred jobs, not two Describes each before any event goes out.

Nothing here gives up on its own: transient faults (throttling, 5xx, dropped connections) are
waited out with exponential backoff and full jitter, for as long as they last. The only deadline is
the task's ``max_wait``, after which the trigger stops the job and reports a timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_hpt.exceptions import TuningJobNotStopped
from airflow_hpt.hooks.tuning import async_call, async_retry_transient, async_stop_tuning_job
from airflow_hpt.result import TERMINAL_STATUSES, progress_line
from airflow_hpt.triggers.kill import outlive_cancels, taken_over
from airflow_hpt.triggers.shared_poll import Connection, Failure, Watch, event_loop_registry

# Stopping a job runs while a task is being killed or has timed out: bounded.
STOP_RETRY_SECONDS = 20.0


class TuningJobTrigger(BaseTrigger):
    """Wait for a hyperparameter tuning job to reach a terminal status, then yield its result.

    :param tuning_job_name: the job to wait for.
    :param aws_conn_id: AWS connection (the one the job was created with).
    :param region_name: AWS region; by default the connection's.
    :param verify: TLS verification, as for the amazon provider's hooks.
    :param botocore_config: botocore ``Config`` parameters as a dict.
    :param check_interval: seconds between status polls.
    :param deadline: epoch seconds after which the job is stopped and a timeout event is yielded;
        None waits as long as the job runs.
    :param stop_on_kill: stop the job when a user kills the deferred task (mark failed/success,
        clear). Triggerer restarts and redistribution never stop it.
    :param not_before: epoch seconds before which no event is yielded, however early the job ends.
        Airflow's scheduler fails a try when the trigger resumes the task before the executor has
        reported the process that deferred it (see docs/waiting.md, "Airflow's deferral race");
        the deferring task sets it a few seconds after the deferral. Part of the serialized
        kwargs, so a triggerer restart does not reset it.
    """

    def __init__(
        self,
        *,
        tuning_job_name: str,
        aws_conn_id: str | None,
        region_name: str | None,
        verify: bool | str | None,
        botocore_config: dict[str, Any] | None,
        check_interval: float,
        deadline: float | None,
        stop_on_kill: bool,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        self.tuning_job_name = tuning_job_name
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.check_interval = check_interval
        self.deadline = deadline
        self.stop_on_kill = stop_on_kill
        self.not_before = not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "tuning_job_name": self.tuning_job_name,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "check_interval": self.check_interval,
                "deadline": self.deadline,
                "stop_on_kill": self.stop_on_kill,
                "not_before": self.not_before,
            },
        )

    @property
    def _connection(self) -> Connection:
        return Connection(self.aws_conn_id, self.region_name, self.verify, self.botocore_config)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self._wait_for_event()
        await self._hold_until_not_before()
        yield event

    async def _hold_until_not_before(self) -> None:
        """Keep the event back until `not_before`, so Airflow cannot resume the task too early."""
        remaining = 0.0 if self.not_before is None else self.not_before - time.time()
        if remaining > 0:
            self.log.info("Holding the event of tuning job %s for %.1fs", self.tuning_job_name, remaining)
            await asyncio.sleep(remaining)

    async def _wait_for_event(self) -> TriggerEvent:
        name = self.tuning_job_name
        registry = event_loop_registry()
        poller = registry.poller(self._connection)
        watch = Watch(name, self.check_interval)
        poller.add(watch)
        try:
            while True:
                remaining = None if self.deadline is None else self.deadline - time.time()
                if remaining is not None and remaining <= 0:
                    return await self._at_deadline()
                try:
                    await asyncio.wait_for(watch.changed.wait(), remaining)
                except TimeoutError:
                    continue
                watch.changed.clear()
                update = watch.latest
                if update is None:
                    continue
                if isinstance(update, Failure):
                    return _error_event(name, update.message)
                self.log.info("%s", progress_line(update))
                if update["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES:
                    return _ended_event(name, update["HyperParameterTuningJobStatus"])
        finally:
            poller.remove(watch)

    async def _at_deadline(self) -> TriggerEvent:
        """max_wait is over: a job that ended meanwhile is a result; otherwise stop it."""
        name = self.tuning_job_name
        async with event_loop_registry().client(self._connection) as client:
            describe = await async_retry_transient(
                lambda: async_call(
                    client, "describe_hyper_parameter_tuning_job", HyperParameterTuningJobName=name
                ),
                retry_for=STOP_RETRY_SECONDS,
                on_retry=self._log_retry,
            )
            if describe["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES:
                return _ended_event(name, describe["HyperParameterTuningJobStatus"])
            try:
                stopped = await async_stop_tuning_job(client, name, STOP_RETRY_SECONDS, self._log_retry)
                outcome = "stopped it" if stopped else "it was no longer running when asked to stop"
            except TuningJobNotStopped as refused:
                stopped, outcome = False, str(refused)
        deadline = datetime.fromtimestamp(self.deadline or time.time(), tz=UTC).isoformat()
        self.log.warning("Tuning job %s still running at its max_wait deadline %s", name, deadline)
        return TriggerEvent(
            {
                "status": "timeout",
                "tuning_job_name": name,
                "deadline": deadline,
                "stopped": stopped,
                "message": f"Tuning job {name} did not finish within max_wait (deadline {deadline}); {outcome}",
            }
        )

    async def on_kill(self) -> None:
        """A user killed the deferred task: stop the job if asked to (never on triggerer restarts,
        nor when another triggerer took the trigger over: airflow_hpt/triggers/kill.py)."""
        if self.stop_on_kill:
            await outlive_cancels(self._stop_unless_taken_over())

    async def _stop_unless_taken_over(self) -> None:
        ti = self.task_instance
        if ti is not None and await taken_over(ti):
            self.log.info(
                "Not stopping tuning job %s: try %s is still deferred on it, its trigger now run by "
                "another triggerer",
                self.tuning_job_name,
                ti.try_number,
            )
            return
        async with event_loop_registry().client(self._connection) as client:
            if await async_stop_tuning_job(client, self.tuning_job_name, STOP_RETRY_SECONDS, self._log_retry):
                self.log.info("Asked SageMaker to stop tuning job %s (task killed)", self.tuning_job_name)

    def _log_retry(self, error: BaseException, delay: float) -> None:
        self.log.warning("Transient SageMaker error (%s); retrying in %.1fs", error, delay)


def ended_job(event: Mapping[str, Any]) -> str:
    """The name of the job an ``ended`` event reports; a timeout or error event raises, naming the job."""
    status = event.get("status")
    if status == "ended":
        return str(event["tuning_job_name"])
    if status == "terminal":  # sent before 0.2 with the result built in the triggerer: read it again
        return str(event["result"]["tuning_job_name"])
    if status == "timeout":
        raise TimeoutError(event["message"])
    raise RuntimeError(event.get("message") or f"Unexpected event from TuningJobTrigger: {dict(event)!r}")


def _ended_event(name: str, job_status: str) -> TriggerEvent:
    return TriggerEvent({"status": "ended", "tuning_job_name": name, "job_status": job_status})


def _error_event(name: str, message: str) -> TriggerEvent:
    return TriggerEvent({"status": "error", "tuning_job_name": name, "message": message})

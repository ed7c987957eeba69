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

from airflow.triggers.base import TriggerEvent

from airflow_hpt.exceptions import TuningJobNotStopped
from airflow_hpt.hooks.tuning import async_call, async_retry_transient, async_stop_tuning_job
from airflow_hpt.result import TERMINAL_STATUSES, progress_line
from airflow_hpt.triggers.base import SageMakerWaitTrigger
from airflow_hpt.triggers.kill import outlive_cancels, taken_over
from airflow_hpt.triggers.shared_poll import Failure, Watch, event_loop_registry

# Stopping a job runs while a task is being killed or has timed out: bounded.
STOP_RETRY_SECONDS = 20.0


class TuningJobTrigger(SageMakerWaitTrigger):
    """Wait for a hyperparameter tuning job to reach a terminal status, then yield its result.

    :param tuning_job_name: the job to wait for.
    :param stop_on_kill: stop the job when a user kills the deferred task (mark failed/success,
        clear). Triggerer restarts and redistribution never stop it.

    The connection, ``check_interval``, ``deadline`` (after which the job is stopped and a timeout
    event is yielded) and ``not_before`` are :class:`~airflow_hpt.triggers.base.SageMakerWaitTrigger`'s.
    """

    def __init__(self, *, tuning_job_name: str, stop_on_kill: bool, **wait: Any) -> None:
        super().__init__(**wait)
        self.tuning_job_name = tuning_job_name
        self.stop_on_kill = stop_on_kill

    def own_kwargs(self) -> dict[str, Any]:
        return {"tuning_job_name": self.tuning_job_name, "stop_on_kill": self.stop_on_kill}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self._wait_for_event()
        await self.hold_until_not_before(f"tuning job {self.tuning_job_name}")
        yield event

    async def _wait_for_event(self) -> TriggerEvent:
        name = self.tuning_job_name
        registry = event_loop_registry()
        poller = registry.poller(self.connection)
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
        async with event_loop_registry().client(self.connection) as client:
            describe = await async_retry_transient(
                lambda: async_call(
                    client, "describe_hyper_parameter_tuning_job", HyperParameterTuningJobName=name
                ),
                retry_for=STOP_RETRY_SECONDS,
                on_retry=self.log_retry,
            )
            if describe["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES:
                return _ended_event(name, describe["HyperParameterTuningJobStatus"])
            try:
                stopped = await async_stop_tuning_job(client, name, STOP_RETRY_SECONDS, self.log_retry)
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
        async with event_loop_registry().client(self.connection) as client:
            if await async_stop_tuning_job(client, self.tuning_job_name, STOP_RETRY_SECONDS, self.log_retry):
                self.log.info("Asked SageMaker to stop tuning job %s (task killed)", self.tuning_job_name)


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

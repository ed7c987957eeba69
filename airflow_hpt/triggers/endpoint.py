"""EndpointTrigger: wait in the triggerer for an endpoint deployment to settle (5 to 15 minutes on
SageMaker), without holding a worker slot.

It describes the endpoint every ``check_interval`` on the connection's shared client, waits out
transient faults for as long as they last, and yields one event once the endpoint settles or the
task's ``max_wait`` passes. Nothing is stopped at the deadline: an endpoint still being created is
SageMaker's to finish, and deleting it is not the deploy task's call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent
from botocore.exceptions import ClientError

from airflow_hpt.endpoints import Outcome, outcome, summary
from airflow_hpt.hooks.tuning import async_call, async_retry_transient
from airflow_hpt.triggers.base import SageMakerWaitTrigger
from airflow_hpt.triggers.shared_poll import event_loop_registry


class EndpointTrigger(SageMakerWaitTrigger):
    """Wait until ``endpoint_name`` leaves Creating/Updating, then yield its Describe's summary.

    :param endpoint_config_name: the configuration being deployed; None waits for any settled state
        (an update that must wait for an earlier change to finish).
    :param handoff: JSON-safe values the resumed task needs, returned in every event: Airflow
        passes a resumed task the event alone in some paths (``dag.test()`` drops the deferral's
        ``kwargs`` when an event came).

    The connection, ``check_interval``, ``deadline`` (after which a timeout event is yielded) and
    ``not_before`` are :class:`~airflow_hpt.triggers.base.SageMakerWaitTrigger`'s.
    """

    def __init__(
        self,
        *,
        endpoint_name: str,
        endpoint_config_name: str | None,
        handoff: dict[str, Any] | None = None,
        **wait: Any,
    ) -> None:
        super().__init__(**wait)
        self.endpoint_name = endpoint_name
        self.endpoint_config_name = endpoint_config_name
        self.handoff = handoff or {}

    def own_kwargs(self) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "endpoint_config_name": self.endpoint_config_name,
            "handoff": self.handoff,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        payload = await self._wait_for_event()
        await self.hold_until_not_before(f"endpoint {self.endpoint_name}")
        yield TriggerEvent({**payload, "handoff": self.handoff})

    async def _wait_for_event(self) -> dict[str, Any]:
        async with event_loop_registry().client(self.connection) as client:
            while True:
                try:
                    endpoint = await async_retry_transient(
                        lambda: async_call(client, "describe_endpoint", EndpointName=self.endpoint_name),
                        retry_for=None,
                        on_retry=self.log_retry,
                    )
                except ClientError as error:
                    return {"status": "error", "message": f"{self.endpoint_name}: {error}"}
                state = outcome(endpoint, self.endpoint_config_name)
                self.log.info("Endpoint %s: %s", self.endpoint_name, endpoint.get("EndpointStatus"))
                if state is not Outcome.SETTLING:
                    return {"status": "settled", "endpoint": summary(endpoint)}
                if self.deadline is not None and time.time() >= self.deadline:
                    return {"status": "timeout", "endpoint": summary(endpoint)}
                wait = self.check_interval
                if self.deadline is not None:
                    wait = max(0.0, min(wait, self.deadline - time.time()))
                await asyncio.sleep(wait)

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

from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.exceptions import ClientError

from airflow_hpt.endpoints import Outcome, outcome, summary
from airflow_hpt.hooks.tuning import async_call, async_retry_transient
from airflow_hpt.triggers.shared_poll import Connection, event_loop_registry


class EndpointTrigger(BaseTrigger):
    """Wait until ``endpoint_name`` leaves Creating/Updating, then yield its Describe's summary.

    :param endpoint_config_name: the configuration being deployed; None waits for any settled state
        (an update that must wait for an earlier change to finish).
    :param deadline: epoch seconds after which a timeout event is yielded; None waits as long as it takes.
    :param not_before: epoch seconds before which no event is yielded (Airflow's deferral race,
        docs/waiting.md); serialized, so a triggerer restart keeps it.
    :param handoff: JSON-safe values the resumed task needs, returned in every event: Airflow
        passes a resumed task the event alone in some paths (``dag.test()`` drops the deferral's
        ``kwargs`` when an event came).
    """

    def __init__(
        self,
        *,
        endpoint_name: str,
        endpoint_config_name: str | None,
        aws_conn_id: str | None,
        region_name: str | None,
        verify: bool | str | None,
        botocore_config: dict[str, Any] | None,
        check_interval: float,
        deadline: float | None,
        not_before: float | None = None,
        handoff: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.endpoint_name = endpoint_name
        self.endpoint_config_name = endpoint_config_name
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.check_interval = check_interval
        self.deadline = deadline
        self.not_before = not_before
        self.handoff = handoff or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "endpoint_name": self.endpoint_name,
                "endpoint_config_name": self.endpoint_config_name,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "check_interval": self.check_interval,
                "deadline": self.deadline,
                "not_before": self.not_before,
                "handoff": self.handoff,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        payload = await self._wait_for_event()
        remaining = 0.0 if self.not_before is None else self.not_before - time.time()
        if remaining > 0:
            await asyncio.sleep(remaining)
        yield TriggerEvent({**payload, "handoff": self.handoff})

    async def _wait_for_event(self) -> dict[str, Any]:
        connection = Connection(self.aws_conn_id, self.region_name, self.verify, self.botocore_config)
        async with event_loop_registry().client(connection) as client:
            while True:
                try:
                    endpoint = await async_retry_transient(
                        lambda: async_call(client, "describe_endpoint", EndpointName=self.endpoint_name),
                        retry_for=None,
                        on_retry=self._log_retry,
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

    def _log_retry(self, error: BaseException, delay: float) -> None:
        self.log.warning("Transient SageMaker error (%s); retrying in %.1fs", error, delay)

"""What the tuning and the endpoint triggers share: the AWS connection they poll with, the task's
``max_wait`` deadline, the poll interval, and ``not_before``, the moment before which no event goes
out (Airflow's deferral race, docs/waiting.md). All are serialized with the trigger, so a triggerer
restart keeps them; each trigger's class path stays its own module's."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.triggers.base import BaseTrigger

from airflow_hpt.triggers.shared_client import Connection


class SageMakerWaitTrigger(BaseTrigger):
    """A trigger that polls SageMaker on the task's connection until something settles.

    :param aws_conn_id: AWS connection (the one the task used).
    :param region_name: AWS region; by default the connection's.
    :param verify: TLS verification, as for the amazon provider's hooks.
    :param botocore_config: botocore ``Config`` parameters as a dict.
    :param check_interval: seconds between polls.
    :param deadline: epoch seconds of the task's ``max_wait``; None waits as long as it takes.
    :param not_before: epoch seconds before which no event is yielded, however early the wait ends:
        Airflow's scheduler fails a try that the trigger resumes before the executor has reported
        the process that deferred it; the deferring task sets it a few seconds after the deferral.
    """

    def __init__(
        self,
        *,
        aws_conn_id: str | None,
        region_name: str | None,
        verify: bool | str | None,
        botocore_config: dict[str, Any] | None,
        check_interval: float,
        deadline: float | None,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.check_interval = check_interval
        self.deadline = deadline
        self.not_before = not_before

    def own_kwargs(self) -> dict[str, Any]:
        """The subclass's own constructor arguments, JSON-safe."""
        raise NotImplementedError

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self.own_kwargs(),
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "check_interval": self.check_interval,
                "deadline": self.deadline,
                "not_before": self.not_before,
            },
        )

    @property
    def connection(self) -> Connection:
        return Connection(self.aws_conn_id, self.region_name, self.verify, self.botocore_config)

    async def hold_until_not_before(self, what: str) -> None:
        """Keep the event about `what` back until `not_before`, so Airflow cannot resume the task too early."""
        remaining = 0.0 if self.not_before is None else self.not_before - time.time()
        if remaining > 0:
            self.log.info("Holding the event of %s for %.1fs", what, remaining)
            await asyncio.sleep(remaining)

    def log_retry(self, error: BaseException, delay: float) -> None:
        self.log.warning("Transient SageMaker error (%s); retrying in %.1fs", error, delay)

"""CapacityTimer: the pause of a deferrable task waiting for SageMaker capacity, in the triggerer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.triggers.base import TriggerEvent


class CapacityTimer(DateTimeTrigger):
    """Airflow's timer, whose event carries the wait's state (its deadline, the refusals so far).

    In the event, not only in the deferral's kwargs: `dag.test()` resumes a task with the event alone.
    """

    def __init__(self, moment: datetime, capacity_deadline: float, failures: int) -> None:
        super().__init__(moment=moment)
        self.capacity_deadline = capacity_deadline
        self.failures = failures

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"moment": self.moment, "capacity_deadline": self.capacity_deadline, "failures": self.failures},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async for _event in super().run():
            yield TriggerEvent({"capacity_deadline": self.capacity_deadline, "failures": self.failures})

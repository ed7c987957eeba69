"""The tuning operator's production guardrails: a budget cap before Create, waiting for capacity at Create.

See README.md, "Production guardrails". Kept light to import (DAG parse time), like the operator.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_hpt.aws_task import seconds

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_hpt.hooks.tuning import CreatedJob, TuningJobHook

# Backoff between Creates refused for capacity: from check_interval, growing to this many times it.
CAPACITY_BACKOFF_GROWTH = 10


class GuardrailsMixin:
    """Budget cap and capacity wait for CreateTuningJobOperator (which sets the attributes below)."""

    max_instance_hours: float | None
    max_cost: float | None
    instance_prices: dict[str, float] | None
    capacity_wait: float | None
    create_retry_timeout: float
    check_interval: float
    min_deferral: float
    deferrable: bool
    hook: TuningJobHook
    log: Any

    def set_guardrails(
        self,
        max_instance_hours: float | None,
        max_cost: float | None,
        instance_prices: Mapping[str, float] | None,
        capacity_wait: timedelta | float | None,
    ) -> None:
        """Keep the arguments; mistakes in them fail when the DAG is parsed, not when the task runs."""
        if max_cost is not None and instance_prices is None:
            raise ValueError("max_cost needs instance_prices: airflow-hpt has no prices built in")
        for name, cap in (("max_instance_hours", max_instance_hours), ("max_cost", max_cost)):
            if cap is not None and cap < 0:
                raise ValueError(f"{name} must be >= 0, got {cap}")
        self.max_instance_hours = max_instance_hours
        self.max_cost = max_cost
        self.instance_prices = None if instance_prices is None else dict(instance_prices)
        self.capacity_wait = None if capacity_wait is None else seconds(capacity_wait)

    def check_budget(self, request: Mapping[str, Any]) -> None:
        """Fail (BudgetExceeded, giving the computation) when the request's worst case is over a cap."""
        from airflow_hpt.budget import check_budget

        for worst in check_budget(
            request,
            max_instance_hours=self.max_instance_hours,
            max_cost=self.max_cost,
            instance_prices=self.instance_prices,
        ):
            self.log.info("Budget: %s", worst)

    def create_within_capacity(
        self,
        request: Mapping[str, Any],
        fingerprint: str,
        capacity_deadline: float | None = None,
        failures: int = 0,
    ) -> CreatedJob:
        """Create (or reattach to) the job; while SageMaker refuses it for capacity, try again until
        ``capacity_wait`` (from the first refusal) ends. A deferrable task waits each pause out in the triggerer.

        ``capacity_deadline`` (epoch seconds) and ``failures`` carry the wait over a deferral.
        """
        from airflow_hpt.exceptions import CapacityUnavailable
        from airflow_hpt.retry import Backoff

        backoff = Backoff(
            base=self.check_interval, cap=CAPACITY_BACKOFF_GROWTH * self.check_interval, failures=failures
        )
        while True:
            try:
                # the same idempotent create every time: a Create that went through before its answer
                # was lost is found again by name and fingerprint, never made twice
                return self.hook.create_or_reattach(request, fingerprint, self.create_retry_timeout)
            except CapacityUnavailable as refused:
                if self.capacity_wait is None:
                    raise
                if capacity_deadline is None:  # the wait starts at the first refusal
                    capacity_deadline = time.time() + self.capacity_wait
                remaining = capacity_deadline - time.time()
                if remaining <= 0:
                    raise CapacityUnavailable(
                        f"{refused} Waited capacity_wait={self.capacity_wait:g}s for it; no tuning job "
                        "was created.",
                        refused.sagemaker_message,
                    ) from None
                delay = min(backoff.next_delay(), remaining)
                if self.deferrable:
                    # no sooner than min_deferral: a quicker resume races Airflow's scheduler
                    delay = max(delay, self.min_deferral)
                self.log.warning(
                    "No capacity (%s); trying again in %.1fs%s, for %.0fs more at most",
                    refused.sagemaker_message,
                    delay,
                    " (waiting in the triggerer)" if self.deferrable else "",
                    remaining,
                )
                if self.deferrable:
                    self._defer_for_capacity(delay, capacity_deadline, backoff.failures)
                time.sleep(delay)

    def _defer_for_capacity(self, delay: float, capacity_deadline: float, failures: int) -> NoReturn:
        from airflow_hpt.triggers.capacity import CapacityTimer

        self.defer(  # type: ignore[attr-defined]  # BaseOperator's
            trigger=CapacityTimer(
                moment=datetime.now(tz=UTC) + timedelta(seconds=delay),
                capacity_deadline=capacity_deadline,
                failures=failures,
            ),
            method_name="execute_after_capacity_wait",
            kwargs={"capacity_deadline": capacity_deadline, "failures": failures},
        )
        raise AssertionError("defer() returned")  # pragma: no cover  # defer() always raises

    def execute_after_capacity_wait(
        self,
        context: Context,
        event: Any = None,
        capacity_deadline: float | None = None,
        failures: int = 0,
    ) -> dict[str, Any]:
        """Resume after a pause for capacity: the whole start again, with the same (idempotent) create.

        The wait's state comes in the timer's event, else (resumed without it) in the deferral's kwargs.
        """
        if isinstance(event, Mapping):
            capacity_deadline = event.get("capacity_deadline", capacity_deadline)
            failures = int(event.get("failures", failures))
        return self.start(context, capacity_deadline, failures)  # type: ignore[attr-defined]

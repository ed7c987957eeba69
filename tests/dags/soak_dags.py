"""The soak's DAGs (tests/soak, benchmarks/soak.py): four DAGs of five tuning tasks each, two runs
each (catchup over two days), tiny budgets on tests/local/scripts/quadratic.py.

- soak_deferred: five deferrable tasks;
- soak_sync: five tasks that wait in their worker slot;
- soak_mixed: five tasks, deferrable and sync alternately;
- soak_crash: five tasks whose first try dies (os._exit) right after the create call, before anything
  is recorded in Airflow: the retry must reattach to the job, never create a second one.

Environment, read at parse time: `SOAK_SCRIPTS`, the file:// URI of tests/local/scripts;
`SOAK_TRAINING_SLEEP`, seconds per epoch; `SOAK_CRASH_AFTER_CREATE=0` turns the crash off;
`SOAK_CRASH_QUEUE`, the Celery queue of soak_crash's tasks, and `SOAK_CRASH_RETRIES`, their retries,
and `SOAK_HOLD`, a file every training job waits for after its epoch (the production soak's: its
faults then find the jobs running and the tasks waiting, however fast or slow the machine).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator

PARAMS = {
    "scripts": os.environ.get("SOAK_SCRIPTS", "file:///nonexistent"),
    "max_jobs": 2,
    "parallel": 2,
    "epochs": 1,
    "sleep": float(os.environ.get("SOAK_TRAINING_SLEEP", "2")),
    "fail": "false",
    "hold": os.environ.get("SOAK_HOLD", ""),
    # a held job must outlast the faults injected while it waits
    "max_runtime": 1800,
}
TASKS = 5
# Airflow's default: no safety net. A try lost to Airflow's deferral race (docs/waiting.md) would be
# a failed task.
DEFAULTS: dict[str, Any] = {"retries": 0}
# The crash DAG's first tries die on purpose: exactly the one retry that needs.
CRASH_DEFAULTS: dict[str, Any] = {
    # the production soak runs these on a Celery worker of their own, which it SIGKILLs
    "queue": os.environ.get("SOAK_CRASH_QUEUE", "default"),
    # the production soak's worker kill may also end a retry: it allows one more
    "retries": int(os.environ.get("SOAK_CRASH_RETRIES", "1")),
    "retry_delay": timedelta(seconds=2),
    "retry_exponential_backoff": False,
}
CRASH_EXIT_CODE = 17
CRASH = os.environ.get("SOAK_CRASH_AFTER_CREATE", "1") == "1"


class CrashAfterCreateOperator(CreateTuningJobOperator):
    """On its first try, the task process exits right after the create call returned."""

    def execute(self, context: Any) -> dict[str, Any]:
        if CRASH and context["ti"].try_number == 1:
            create = self.hook.create_or_reattach

            def create_then_die(*args: Any, **kwargs: Any) -> Any:
                created = create(*args, **kwargs)
                print(f"soak: crashing right after creating {created.name}", flush=True)
                os._exit(CRASH_EXIT_CODE)

            self.hook.create_or_reattach = create_then_die  # type: ignore[method-assign]
        return super().execute(context)


def soak_dag(dag_id: str, default_args: dict[str, Any] = DEFAULTS) -> DAG:
    return DAG(
        dag_id,
        schedule="@daily",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        end_date=pendulum.datetime(2026, 1, 2, tz="UTC"),
        catchup=True,
        max_active_runs=2,
        params=PARAMS,
        default_args=default_args,
        tags=["soak"],
    )


REQUEST = "templates/local_quadratic.json.j2"

with soak_dag("soak_deferred"):
    for index in range(TASKS):
        CreateTuningJobOperator(task_id=f"tune_{index}", request=REQUEST, deferrable=True, check_interval=1)

with soak_dag("soak_sync"):
    for index in range(TASKS):
        CreateTuningJobOperator(task_id=f"tune_{index}", request=REQUEST, deferrable=False, check_interval=1)

with soak_dag("soak_mixed"):
    for index in range(TASKS):
        CreateTuningJobOperator(
            task_id=f"tune_{index}", request=REQUEST, deferrable=index % 2 == 0, check_interval=1
        )

with soak_dag("soak_crash", CRASH_DEFAULTS):
    for index in range(TASKS):
        CrashAfterCreateOperator(
            task_id=f"tune_{index}", request=REQUEST, deferrable=index % 2 == 0, check_interval=1
        )

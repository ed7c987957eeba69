"""Whether a cancelled tuning trigger saw a user kill its task, or only lost it to another triggerer.

Airflow 3.3's triggerer cancels every trigger that the database no longer assigns to it with the
same "user action" message, and then calls the trigger's ``on_kill``: a user who marked the
deferred task failed or success, or cleared it, and a trigger that another triggerer took over
(this one missed its health check: stalled, partitioned) look alike. Stopping the job on the
second would stop a job whose task still waits for it, in the other triggerer.

They differ by identity. The deferring try records its try number in an XCom before it defers;
a new try starts with its XComs cleared. A trigger that was taken over finds its task still
deferred and the XCom still naming its own try; a kill finds the task no longer deferred (marked
failed or success, cleared and not yet deferred again), or deferred by a later try (cleared and
deferred again), whose XCom names that try. Where nothing can be read (``dag.test()``, a task
deferred before this mark existed, the API unreachable), the cancel counts as a kill, as before.

The triggerer also repeats its cancel each second (about) until the trigger has ended, which
cancels an ``on_kill`` still at work: what it does runs on in a task of its own (`outlive_cancels`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

# The XCom the deferring try writes (only when the job is to be stopped on kill).
DEFERRED_TRY_KEY = "airflow_hpt_deferred_try"

log = logging.getLogger(__name__)

# What on_kill started and the event loop must not drop while it runs (it keeps weak references).
_outliving: set[asyncio.Task[None]] = set()


async def outlive_cancels(work: Coroutine[Any, Any, None]) -> None:
    """Await `work` in a task of its own that a cancel of the caller does not end."""
    task = asyncio.ensure_future(work)
    _outliving.add(task)
    task.add_done_callback(_finished)
    await asyncio.shield(task)


def _finished(task: asyncio.Task[None]) -> None:
    _outliving.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("Stopping the job of a killed task failed", exc_info=task.exception())


def mark_deferring_try(context: Context) -> None:
    """Record, before deferring, which try waits: a later cancel of its trigger reads it back."""
    ti = context["ti"]
    ti.xcom_push(key=DEFERRED_TRY_KEY, value=ti.try_number)


async def taken_over(ti: Any) -> bool:
    """Whether the task `ti` (the trigger's ``task_instance``) is still deferred by the same try,
    its trigger now run by another triggerer; False when that cannot be read."""
    from asgiref.sync import sync_to_async

    try:
        state, deferred_try = await sync_to_async(_current_state_and_try)(ti)
    except Exception as error:
        log.info("Could not read the task's state (%s): treating the cancel as a kill", error)
        return False
    return state == "deferred" and deferred_try == ti.try_number


def _current_state_and_try(ti: Any) -> tuple[str | None, Any]:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    from airflow.sdk.execution_time.xcom import XCom

    map_index = ti.map_index if ti.map_index is not None and ti.map_index >= 0 else None
    states = RuntimeTaskInstance.get_task_states(
        dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=map_index
    )
    key = ti.task_id if map_index is None else f"{ti.task_id}_{map_index}"
    state = states.get(ti.run_id, {}).get(key)
    deferred_try = XCom.get_one(
        key=DEFERRED_TRY_KEY, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index
    )
    return state, deferred_try

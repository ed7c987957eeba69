"""Read what a `dag.test()` run left in the metadata database (the demo's helpers, shared with the tests)."""

from __future__ import annotations

from airflow_hpt.demo.airflow_state import task_states, xcom

__all__ = ["task_states", "xcom"]

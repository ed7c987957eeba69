"""Tuning: the engine and one scheduler per tuning job, its strategies, and its records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.tuning.engine import TuningEngine
    from airflow_hpt.local.tuning.strategies import TuningStrategy

__all__ = [
    "TuningEngine",
    "TuningStrategy",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".engine": ("TuningEngine",),
        ".strategies": ("TuningStrategy",),
    },
)

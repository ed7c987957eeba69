"""CloudWatch: the jobs' and endpoints' logs, and the training jobs' metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.cloudwatch.logs import LogsHandler
    from airflow_hpt.local.cloudwatch.metrics import MetricsHandler

__all__ = [
    "LogsHandler",
    "MetricsHandler",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".logs": ("LogsHandler",),
        ".metrics": ("MetricsHandler",),
    },
)

"""Training jobs: one job's process under SageMaker's script-mode contract, and standalone jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.training.capture import MetricSample, TimedLog
    from airflow_hpt.local.training.process import TrainingOutcome, TrainingProcess, TrainingSpec
    from airflow_hpt.local.training.runner import Runner
    from airflow_hpt.local.training.standalone import TrainingJobs
    from airflow_hpt.local.training.zygote import Zygote, ZygoteGone

__all__ = [
    "MetricSample",
    "Runner",
    "TimedLog",
    "TrainingJobs",
    "TrainingOutcome",
    "TrainingProcess",
    "TrainingSpec",
    "Zygote",
    "ZygoteGone",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".capture": ("MetricSample", "TimedLog"),
        ".process": ("TrainingOutcome", "TrainingProcess", "TrainingSpec"),
        ".runner": ("Runner",),
        ".standalone": ("TrainingJobs",),
        ".zygote": ("Zygote", "ZygoteGone"),
    },
)

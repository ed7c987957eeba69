"""The SageMaker front: the control plane's operations, grouped by resource, and the runtime's InvokeEndpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.sagemaker.front import Front
    from airflow_hpt.local.sagemaker.hosting import hosting_operations
    from airflow_hpt.local.sagemaker.quotas import Quotas
    from airflow_hpt.local.sagemaker.registry import Operations
    from airflow_hpt.local.sagemaker.runtime import RuntimeFront
    from airflow_hpt.local.sagemaker.tags import TagOperations
    from airflow_hpt.local.sagemaker.training_jobs import TrainingJobOperations
    from airflow_hpt.local.sagemaker.transform_jobs import TransformJobOperations
    from airflow_hpt.local.sagemaker.tuning_jobs import TuningJobOperations

__all__ = [
    "Front",
    "Operations",
    "Quotas",
    "RuntimeFront",
    "TagOperations",
    "TrainingJobOperations",
    "TransformJobOperations",
    "TuningJobOperations",
    "hosting_operations",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".front": ("Front",),
        ".hosting": ("hosting_operations",),
        ".quotas": ("Quotas",),
        ".registry": ("Operations",),
        ".runtime": ("RuntimeFront",),
        ".tags": ("TagOperations",),
        ".training_jobs": ("TrainingJobOperations",),
        ".transform_jobs": ("TransformJobOperations",),
        ".tuning_jobs": ("TuningJobOperations",),
    },
)

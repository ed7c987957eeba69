"""The SageMaker front: the control plane's operations and the runtime's InvokeEndpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.sagemaker.api import SageMakerApi
    from airflow_hpt.local.sagemaker.front import Front
    from airflow_hpt.local.sagemaker.jobs_api import JobsApi
    from airflow_hpt.local.sagemaker.quotas import Quotas
    from airflow_hpt.local.sagemaker.runtime import RuntimeFront

__all__ = [
    "Front",
    "JobsApi",
    "Quotas",
    "RuntimeFront",
    "SageMakerApi",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".api": ("SageMakerApi",),
        ".front": ("Front",),
        ".jobs_api": ("JobsApi",),
        ".quotas": ("Quotas",),
        ".runtime": ("RuntimeFront",),
    },
)

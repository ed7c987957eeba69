"""Hosting: model servers behind endpoints, the deployment resources, and batch transform jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.hosting.deploy import DeploymentRejected, Deployments
    from airflow_hpt.local.hosting.process import ModelServerError, ServingSpec
    from airflow_hpt.local.hosting.servers import Hosting
    from airflow_hpt.local.hosting.transform import TransformJobs

__all__ = [
    "DeploymentRejected",
    "Deployments",
    "Hosting",
    "ModelServerError",
    "ServingSpec",
    "TransformJobs",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".deploy": ("DeploymentRejected", "Deployments"),
        ".process": ("ModelServerError", "ServingSpec"),
        ".servers": ("Hosting",),
        ".transform": ("TransformJobs",),
    },
)

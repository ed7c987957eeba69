"""Local SageMaker tuning backend: runs and tunes real training scripts offline (no Airflow import).

Its rooms, each a subpackage importing only those below it (tests/unit/test_import_graph.py):

- bottom: ``http`` (router, SigV4, bodies, wire checks, errors), ``state`` (records, listing),
  ``iam`` (policy, conditions, actions);
- services: ``s3``, ``training``, then ``hosting`` and ``tuning``;
- fronts: ``sagemaker`` (control plane and runtime), ``cloudwatch`` (logs, metrics), ``sts``;
- :mod:`airflow_hpt.local.server` alone composes the fronts into one endpoint.

This package gives the backend's public surface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.http.faults import Fault, Faults
    from airflow_hpt.local.iam.policy import Policy, PolicyError, RequestLog
    from airflow_hpt.local.s3.paths import LocalS3
    from airflow_hpt.local.server import (
        TEST_ACCESS_KEY_ID,
        TEST_SECRET_ACCESS_KEY,
        LocalSageMaker,
        client_settings,
        serve,
    )

__all__ = [
    "TEST_ACCESS_KEY_ID",
    "TEST_SECRET_ACCESS_KEY",
    "Fault",
    "Faults",
    "LocalS3",
    "LocalSageMaker",
    "Policy",
    "PolicyError",
    "RequestLog",
    "client_settings",
    "serve",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "airflow_hpt.local.http.faults": ("Fault", "Faults"),
        "airflow_hpt.local.iam.policy": ("Policy", "PolicyError", "RequestLog"),
        "airflow_hpt.local.s3.paths": ("LocalS3",),
        "airflow_hpt.local.server": (
            "LocalSageMaker",
            "TEST_ACCESS_KEY_ID",
            "TEST_SECRET_ACCESS_KEY",
            "client_settings",
            "serve",
        ),
    },
)

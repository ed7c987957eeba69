"""IAM: the identity policy, its conditions, and which actions on which resources a call needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.iam.actions import logs_needs, sagemaker_needs
    from airflow_hpt.local.iam.conditions import Condition, ConditionError, parse_conditions
    from airflow_hpt.local.iam.policy import Authorizer, Policy, PolicyError, RequestLog

__all__ = [
    "Authorizer",
    "Condition",
    "ConditionError",
    "Policy",
    "PolicyError",
    "RequestLog",
    "logs_needs",
    "parse_conditions",
    "sagemaker_needs",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".actions": ("logs_needs", "sagemaker_needs"),
        ".conditions": ("Condition", "ConditionError", "parse_conditions"),
        ".policy": ("Authorizer", "Policy", "PolicyError", "RequestLog"),
    },
)

"""STS: GetCallerIdentity, who the backend's one access key is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.sts.identity import StsHandler

__all__ = [
    "StsHandler",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".identity": ("StsHandler",),
    },
)

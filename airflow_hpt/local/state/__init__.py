"""Durable state: the records of every resource, and what Describe, Stop and List share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.state.listing import list_answer, named_record
    from airflow_hpt.local.state.store import ACCOUNT_ID, Record, Store, public

__all__ = [
    "ACCOUNT_ID",
    "Record",
    "Store",
    "list_answer",
    "named_record",
    "public",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".listing": ("list_answer", "named_record"),
        ".store": ("ACCOUNT_ID", "Record", "Store", "public"),
    },
)

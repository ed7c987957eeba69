"""Durable state: the records of every resource, and what Describe, Stop and List share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.state.listing import list_answer, named_record
    from airflow_hpt.local.state.records import Book, Record, Stored, Tag
    from airflow_hpt.local.state.store import ACCOUNT_ID, Store

__all__ = [
    "ACCOUNT_ID",
    "Book",
    "Record",
    "Store",
    "Stored",
    "Tag",
    "list_answer",
    "named_record",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".listing": ("list_answer", "named_record"),
        ".records": ("Book", "Record", "Stored", "Tag"),
        ".store": ("ACCOUNT_ID", "Store"),
    },
)

"""What the Create, Describe, Stop and List operations share: the name guard, the named record,
filters, order and pagination tokens."""

from __future__ import annotations

import base64
import operator
from collections.abc import Callable
from typing import Any

from airflow_hpt.local.http.errors import RESOURCE_IN_USE, ApiError, Body, required, validation
from airflow_hpt.local.state.records import BookT, Kind, Record, Stored
from airflow_hpt.local.state.store import Store


def named_record(
    store: Store, kind: Kind[BookT], body: Body, name_member: str, not_found: Callable[[str], ApiError]
) -> Stored[BookT]:
    """The resource ``body[name_member]`` names, or ``not_found(name)`` (each operation has its own)."""
    name = required(body, name_member)
    stored = store.entry(kind, name)
    if stored is None:
        raise not_found(name)
    return stored


def list_answer(
    records: list[Record],
    body: Body,
    *,
    name_key: str,
    status_key: str | None,
    default_sort: str,
    default_order: str,
    summaries_key: str,
    summary: Callable[[Record], Body],
    created_after_inclusive: bool = False,
) -> Body:
    """A List operation's answer: ``records`` filtered, sorted (SortBy Name, CreationTime or Status),
    paged and summarized. ``status_key`` None: the records have no status (nor the filter, nor the
    sort order, in the operation's input)."""
    records = filtered(
        records,
        body,
        name_key=name_key,
        status_key=status_key,
        created_after_inclusive=created_after_inclusive,
    )
    sort_keys = {"Name": name_key, "CreationTime": "CreationTime"}
    if status_key is not None:
        sort_keys["Status"] = status_key
    records = sorted_by(
        records, sort_keys[body.get("SortBy", default_sort)], body.get("SortOrder", default_order)
    )
    chosen, token = page(records, body)
    return with_token({summaries_key: [summary(record) for record in chosen]}, token)


def fields_of(fields: tuple[str, ...]) -> Callable[[Record], Body]:
    """A summary made of the ``fields`` a record has."""
    return lambda record: {field: record[field] for field in fields if field in record}


def filtered(
    records: list[Record],
    body: Body,
    *,
    name_key: str,
    status_key: str | None,
    created_after_inclusive: bool = False,
) -> list[Record]:
    """The List operations' common filters (name substring, status, time windows).

    ``created_after_inclusive``: CreationTimeAfter keeps the bound itself ("greater than or equal
    to", as the API reference words it for models, endpoint configurations and endpoints; "after"
    for the jobs)."""
    needle = body.get("NameContains")
    if needle:
        records = [record for record in records if needle.lower() in record[name_key].lower()]
    if status_key is not None and "StatusEquals" in body:
        records = [record for record in records if record[status_key] == body["StatusEquals"]]
    windows: tuple[tuple[str, str, Callable[[float, float], bool]], ...] = (
        ("CreationTimeAfter", "CreationTime", operator.ge if created_after_inclusive else operator.gt),
        ("CreationTimeBefore", "CreationTime", operator.lt),
        ("LastModifiedTimeAfter", "LastModifiedTime", operator.gt),
        ("LastModifiedTimeBefore", "LastModifiedTime", operator.lt),
    )
    for member, field, keep in windows:
        if member in body:
            bound = float(body[member])
            records = [
                record for record in records if keep(record.get(field) or record["CreationTime"], bound)
            ]
    return records


def sorted_by(records: list[Record], key: str, order: str) -> list[Record]:
    return sorted(records, key=lambda record: record[key], reverse=order == "Descending")


def page(items: list[Any], body: Body, default_size: int = 10) -> tuple[list[Any], str | None]:
    """One page of ``items`` and the token of the next one (None on the last page)."""
    size = int(body.get("MaxResults") or default_size)
    if not 1 <= size <= 100:
        raise validation(f"MaxResults {size} must be between 1 and 100")
    start = 0
    if body.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(body["NextToken"].encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise validation(f"Invalid pagination token {body['NextToken']}") from None
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


def with_token(response: Body, token: str | None) -> Body:
    if token is not None:
        response["NextToken"] = token
    return response


def refuse_taken_name(store: Store, kind: str, name: str, arn_member: str) -> None:
    """A Create's guard: a job's name is unique within the account and region (ResourceInUse)."""
    existing = store.get(kind, name)
    if existing is not None:
        raise ApiError(
            RESOURCE_IN_USE,
            "Job name must be unique within an AWS account and region, and a job with this name "
            f"already exists ({existing[arn_member]})",
        )

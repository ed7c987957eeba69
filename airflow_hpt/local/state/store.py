"""Durable state of the local backend: one JSON file per resource under ``<home>/state``.

A resource is kept as a :class:`~airflow_hpt.local.state.records.Stored`: the members its Describe
answers with, in their wire form (timestamps as epoch seconds), so a Describe is a copy of them, and
the backend's bookkeeping of it, typed per kind. Its file holds both (``fields`` and ``book``).
Every mutation is written through to disk at once (write to a temporary file,
then rename), so a backend killed at any moment restarts from a consistent state.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path
from typing import Any, TypeVar

from airflow_hpt.local.state.records import (
    Book,
    BookT,
    EndpointBook,
    Kind,
    Record,
    Stored,
    TrainingJobBook,
    TuningJobBook,
)

T = TypeVar("T")

TUNING_JOBS = Kind("hyper-parameter-tuning-job", TuningJobBook)
TRAINING_JOBS = Kind("training-job", TrainingJobBook)
MODELS = Kind("model", Book)
ENDPOINT_CONFIGS = Kind("endpoint-config", Book)
ENDPOINTS = Kind("endpoint", EndpointBook)
TRANSFORM_JOBS = Kind("transform-job", Book)
# The kinds are spelled as the resource types of SageMaker ARNs, so an ARN names its kind.
KINDS: tuple[Kind[Any], ...] = (
    TUNING_JOBS,
    TRAINING_JOBS,
    MODELS,
    ENDPOINT_CONFIGS,
    ENDPOINTS,
    TRANSFORM_JOBS,
)
# SageMaker ARNs carry the account; the local backend has one, fixed, as moto does.
ACCOUNT_ID = "123456789012"


def arn_for(region: str, kind: str, name: str) -> str:
    """The ARN of a resource: SageMaker lowercases the name in it."""
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{kind}/{name.lower()}"


def _loaded(kind: Kind[BookT], saved: dict[str, Any]) -> Stored[BookT]:
    """A resource as its file keeps it."""
    if saved.keys() != {"fields", "book"}:
        # written by a backend of an earlier version: one dict, the bookkeeping among the Describe
        # members under names prefixed with "_" (those a book no longer keeps are dropped)
        names = {field.name for field in dataclasses.fields(kind.book)}
        book = {key[1:]: saved.pop(key) for key in list(saved) if key.startswith("_")}
        saved = {"fields": saved, "book": {name: book[name] for name in names & book.keys()}}
    return Stored(saved["fields"], kind.book(**saved["book"]))


def kind_named(resource_type: str) -> Kind[Any] | None:
    """The kind an ARN's resource type names, if the backend keeps that kind."""
    return next((kind for kind in KINDS if kind == resource_type), None)


class Store:
    """Thread-safe, write-through map of kind -> lowercased name -> stored resource.

    Names are keyed lowercased because SageMaker names are unique case-insensitively.
    Readers always get deep copies: engine threads and HTTP threads never share a mutable record.
    ``get``, ``all`` and ``update`` see a resource's Describe members; ``entry``, ``entries`` and
    ``update_entry`` its bookkeeping too.
    """

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "state"
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Stored[Any]]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            folder = self.root / kind
            folder.mkdir(parents=True, exist_ok=True)
            for path in folder.glob("*.json"):
                self._records[kind][path.stem] = _loaded(kind, json.loads(path.read_text()))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the store lock across several calls (check-then-act without races)."""
        with self._lock:
            yield

    def get(self, kind: str, name: str) -> Record | None:
        """A copy of the resource's Describe members (None if there is no such resource)."""
        with self._lock:
            stored = self._records[kind].get(name.lower())
            return deepcopy(stored.fields) if stored is not None else None

    def entry(self, kind: Kind[BookT], name: str) -> Stored[BookT] | None:
        """A copy of the resource with its bookkeeping (None if there is no such resource)."""
        with self._lock:
            stored: Stored[BookT] | None = self._records[kind].get(name.lower())
            return deepcopy(stored)

    def tags_of(self, arn: str) -> dict[str, str]:
        """The tags of the resource a SageMaker ARN names; none if it names none (a Create's new one)."""
        resource_type, _, name = arn.split(":", 5)[-1].partition("/")
        kind = kind_named(resource_type) if name and arn.startswith("arn:aws:sagemaker:") else None
        with self._lock:
            stored = self._records[kind].get(name.lower()) if kind is not None else None
            return {tag["Key"]: tag["Value"] for tag in stored.book.tags} if stored is not None else {}

    def all(self, kind: str, where: Callable[[Record], bool] | None = None) -> list[Record]:
        """Copies of the Describe members of a kind's resources; ``where`` filters before copying
        (cheaper)."""
        return self.query(kind, lambda records: [r for r in records if where is None or where(r)])

    def query(self, kind: str, query: Callable[[list[Record]], T]) -> T:
        """``query`` run on the live Describe members of a kind's resources under the lock; only
        what it returns is copied.

        A List filters, orders and pages every record but answers with one page of summaries: copying
        every record first made a page of a thousand tuning jobs cost a thousand deep copies.
        ``query`` must not change the records.
        """
        with self._lock:
            return deepcopy(query([stored.fields for stored in self._records[kind].values()]))

    def entries(
        self, kind: Kind[BookT], where: Callable[[Stored[BookT]], bool] | None = None
    ) -> list[Stored[BookT]]:
        """Copies of a kind's resources with their bookkeeping; ``where`` filters before copying."""
        with self._lock:
            return deepcopy(
                [stored for stored in self._records[kind].values() if where is None or where(stored)]
            )

    def put(self, kind: Kind[BookT], name: str, stored: Stored[BookT]) -> None:
        with self._lock:
            self._records[kind][name.lower()] = deepcopy(stored)
            self._write(kind, name.lower())

    def update(self, kind: str, name: str, change: Callable[[Record], None], *, copy: bool = True) -> Record:
        """Apply ``change`` to the resource's Describe members in place, persist them and return a copy.

        ``copy=False`` returns an empty dict instead, sparing the copy of a large record.
        """
        with self._lock:
            stored = self._changed(kind, name, lambda stored: change(stored.fields))
            return deepcopy(stored.fields) if copy else {}

    def update_entry(
        self, kind: Kind[BookT], name: str, change: Callable[[Stored[BookT]], None]
    ) -> Stored[BookT]:
        """Apply ``change`` to the resource and its bookkeeping in place, persist it, return a copy."""
        with self._lock:
            return deepcopy(self._changed(kind, name, change))

    def delete(self, kind: str, name: str) -> None:
        with self._lock:
            self._records[kind].pop(name.lower(), None)
            self._path(kind, name.lower()).unlink(missing_ok=True)

    def _changed(self, kind: str, name: str, change: Callable[[Stored[Any]], None]) -> Stored[Any]:
        stored = self._records[kind][name.lower()]
        change(stored)
        self._write(kind, name.lower())
        return stored

    def _path(self, kind: str, key: str) -> Path:
        # The API validates names against SageMaker's patterns; this is the last line, since a
        # name with a separator would write or delete a file outside the store.
        if not key or key.startswith(".") or any(char in key for char in "/\\\0"):
            raise ValueError(f"{key!r} cannot be the name of a stored {kind}")
        return self.root / kind / f"{key}.json"

    def _write(self, kind: str, key: str) -> None:
        path = self._path(kind, key)
        temporary = path.with_suffix(".tmp")
        stored = self._records[kind][key]
        saved = {"fields": stored.fields, "book": dataclasses.asdict(stored.book)}
        temporary.write_text(json.dumps(saved, separators=(",", ":")))
        os.replace(temporary, path)

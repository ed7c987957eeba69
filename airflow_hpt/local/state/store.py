"""Durable state of the local backend: one JSON file per resource under ``<home>/state``.

Records are kept in their wire form (timestamps as epoch seconds), so a Describe is a copy of the
record. Keys starting with ``_`` are the backend's own bookkeeping and never leave the process
(see :func:`public`). Every mutation is written through to disk at once (write to a temporary file,
then rename), so a backend killed at any moment restarts from a consistent state.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path
from typing import Any, TypeVar

Record = dict[str, Any]
T = TypeVar("T")

TUNING_JOBS = "hyper-parameter-tuning-job"
TRAINING_JOBS = "training-job"
MODELS = "model"
ENDPOINT_CONFIGS = "endpoint-config"
ENDPOINTS = "endpoint"
TRANSFORM_JOBS = "transform-job"
# The kinds are spelled as the resource types of SageMaker ARNs, so an ARN names its kind.
KINDS = (TUNING_JOBS, TRAINING_JOBS, MODELS, ENDPOINT_CONFIGS, ENDPOINTS, TRANSFORM_JOBS)
# SageMaker ARNs carry the account; the local backend has one, fixed, as moto does.
ACCOUNT_ID = "123456789012"


def arn_for(region: str, kind: str, name: str) -> str:
    """The ARN of a resource: SageMaker lowercases the name in it."""
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{kind}/{name.lower()}"


def public(record: Record) -> Record:
    """The record without the backend's bookkeeping keys."""
    return {key: value for key, value in record.items() if not key.startswith("_")}


class Store:
    """Thread-safe, write-through map of kind -> lowercased name -> record.

    Names are keyed lowercased because SageMaker names are unique case-insensitively.
    Readers always get deep copies: engine threads and HTTP threads never share a mutable dict.
    """

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "state"
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Record]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            folder = self.root / kind
            folder.mkdir(parents=True, exist_ok=True)
            for path in folder.glob("*.json"):
                self._records[kind][path.stem] = json.loads(path.read_text())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the store lock across several calls (check-then-act without races)."""
        with self._lock:
            yield

    def get(self, kind: str, name: str) -> Record | None:
        with self._lock:
            record = self._records[kind].get(name.lower())
            return deepcopy(record) if record is not None else None

    def tags_of(self, arn: str) -> dict[str, str]:
        """The tags of the resource a SageMaker ARN names; none if it names none (a Create's new one)."""
        kind, _, name = arn.split(":", 5)[-1].partition("/")
        record = (
            self.get(kind, name) if kind in KINDS and name and arn.startswith("arn:aws:sagemaker:") else None
        )
        return {tag["Key"]: tag["Value"] for tag in (record or {}).get("_tags", [])}

    def all(self, kind: str, where: Callable[[Record], bool] | None = None) -> list[Record]:
        """Copies of the records of a kind; ``where`` filters before copying (cheaper)."""
        with self._lock:
            return deepcopy(
                [record for record in self._records[kind].values() if where is None or where(record)]
            )

    def query(self, kind: str, query: Callable[[list[Record]], T]) -> T:
        """``query`` run on the live records of a kind under the lock; only what it returns is copied.

        A List filters, orders and pages every record but answers with one page of summaries: copying
        every record first made a page of a thousand tuning jobs cost a thousand deep copies.
        ``query`` must not change the records.
        """
        with self._lock:
            return deepcopy(query(list(self._records[kind].values())))

    def put(self, kind: str, name: str, record: Record) -> None:
        with self._lock:
            self._records[kind][name.lower()] = deepcopy(record)
            self._write(kind, name.lower())

    def update(self, kind: str, name: str, change: Callable[[Record], None], *, copy: bool = True) -> Record:
        """Apply ``change`` to the stored record in place, persist it and return a copy.

        ``copy=False`` returns an empty dict instead, sparing the copy of a large record.
        """
        with self._lock:
            record = self._records[kind][name.lower()]
            change(record)
            self._write(kind, name.lower())
            return deepcopy(record) if copy else {}

    def delete(self, kind: str, name: str) -> None:
        with self._lock:
            self._records[kind].pop(name.lower(), None)
            self._path(kind, name.lower()).unlink(missing_ok=True)

    def _path(self, kind: str, key: str) -> Path:
        # The API validates names against SageMaker's patterns; this is the last line, since a
        # name with a separator would write or delete a file outside the store.
        if not key or key.startswith(".") or any(char in key for char in "/\\\0"):
            raise ValueError(f"{key!r} cannot be the name of a stored {kind}")
        return self.root / kind / f"{key}.json"

    def _write(self, kind: str, key: str) -> None:
        path = self._path(kind, key)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._records[kind][key], separators=(",", ":")))
        os.replace(temporary, path)

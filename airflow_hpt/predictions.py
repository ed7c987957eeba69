"""Checking an endpoint's answers on labelled rows: the request body, the answer's parsing, the score.

A classifier endpoint served by a scikit-learn container (or the local backend) takes rows of
features as ``text/csv`` and, asked for ``application/json``, answers one prediction per row: a JSON
list of labels (``[3.0, 7.0]``) or of one-element rows (``[[3.0], [7.0]]``). Labelled rows are
SageMaker's CSV convention: label first, no header. Nothing here imports Airflow or boto3.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

CSV = "text/csv"
JSON = "application/json"


class MalformedAnswer(ValueError):
    """The endpoint answered something that is not one prediction per row."""


@dataclass(frozen=True)
class LabelledRows:
    labels: list[float]
    features: list[list[float]]


@dataclass(frozen=True)
class Score:
    labels: list[float]
    predictions: list[float]

    @property
    def correct(self) -> int:
        return sum(label == predicted for label, predicted in zip(self.labels, self.predictions, strict=True))

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.labels)

    def examples(self, count: int) -> list[dict[str, float]]:
        """The first ``count`` rows as ``{"label": ..., "predicted": ...}``."""
        return [
            {"label": label, "predicted": predicted}
            for label, predicted in zip(self.labels[:count], self.predictions[:count], strict=True)
        ]


def read_labelled_csv(text: str, limit: int | None = None) -> LabelledRows:
    """Rows of ``label,feature,...`` (no header), at most ``limit`` of them."""
    labels: list[float] = []
    features: list[list[float]] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        if limit is not None and len(labels) >= limit:
            break
        try:
            values = [float(value) for value in row]
        except ValueError as error:
            raise ValueError(
                f"row {number}: not a number ({error}); expected label,feature,... with no header"
            ) from None
        if len(values) < 2:
            raise ValueError(f"row {number}: a label and at least one feature expected, got {row}")
        labels.append(values[0])
        features.append(values[1:])
    if not labels:
        raise ValueError("no labelled rows")
    return LabelledRows(labels, features)


def csv_body(features: Sequence[Sequence[float]]) -> str:
    """The request body: one CSV line of features per row, as the container's CSV decoder reads it."""
    return "\n".join(",".join(f"{value:g}" for value in row) for row in features)


def parse_predictions(body: bytes | str, expected: int) -> list[float]:
    """One number per row from a JSON answer; :class:`MalformedAnswer` for anything else."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        raise MalformedAnswer(f"the answer is not JSON: {text[:200]!r}") from None
    if not isinstance(answer, list):
        raise MalformedAnswer(f"the answer is not a list of predictions: {text[:200]!r}")
    if len(answer) != expected:
        raise MalformedAnswer(f"{len(answer)} predictions for {expected} rows: {text[:200]!r}")
    return [_number(item, index) for index, item in enumerate(answer)]


def _number(item: object, index: int) -> float:
    if isinstance(item, list) and len(item) == 1:
        item = item[0]
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
        raise MalformedAnswer(f"prediction {index} is not a number: {item!r}")
    return float(item)

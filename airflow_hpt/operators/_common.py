"""Helpers shared by the operators that take a tuning result from upstream."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any


def as_result(value: Any) -> dict[str, Any]:
    """The tuning result dict, whether it came as an XComArg (a dict) or a rendered template (a string).

    A template like ``{{ ti.xcom_pull(task_ids='tune') }}`` renders a dict as its Python repr unless the
    DAG renders native objects, so both JSON and Python literals are read.
    """
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = ast.literal_eval(value)
        if isinstance(parsed, Mapping):
            return dict(parsed)
    raise TypeError(f"expected the tuning result (a dict from CreateTuningJobOperator), got {value!r:.120}")

"""The service model and the helpers every stage shares: member paths and walking a request.

botocore's ``sagemaker`` model is loaded on first use (it is a large JSON file), so importing the
package stays cheap and does not import botocore.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    import regex
    from botocore.model import ServiceModel, StructureShape

OPERATION = "CreateHyperParameterTuningJob"
CONFIG = "HyperParameterTuningJobConfig"
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def member_path(path: str, key: object) -> str:
    """``Parent.Member``; map keys that are not plain identifiers use JSON quoting: ``Parent["a b"]``."""
    text = str(key)
    if _PLAIN_KEY.fullmatch(text):
        return f"{path}.{text}" if path else text
    return f"{path}[{json.dumps(text, ensure_ascii=False)}]"


def input_shape() -> StructureShape:
    return operation_input_shape(OPERATION)


@functools.cache
def _service_model() -> ServiceModel:
    # once: each load is a copy of the whole model (tens of MiB), kept alive by the shapes taken from it
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


@functools.cache
def operation_input_shape(operation: str) -> StructureShape:
    """The input shape of any ``sagemaker`` operation (e.g. ``CreateTrainingJob``)."""
    shape = _service_model().operation_model(operation).input_shape
    assert shape is not None  # the operations asked for all have an input
    return shape


@functools.cache
def compiled(pattern: str) -> regex.Pattern[str]:
    import regex

    return regex.compile(pattern)


def describe(value: Any) -> str:
    """A value as quoted in a problem, cut short."""
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """(index, entry) of the mapping entries of a list; anything else was already reported."""
    if not isinstance(value, list | tuple):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]

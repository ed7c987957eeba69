"""The ``Condition`` block of an IAM policy statement, decided against a request's context.

Pure: no I/O. As IAM evaluates it: operators AND together, keys under one operator AND together,
the values listed for one key OR together (NOR for a negated operator). A key missing from the
request's context fails a condition, except under a negated operator (``StringNotEquals``...),
``...IfExists``, ``Null`` and ``ForAllValues:``, which then hold. A multivalued key needs a set
operator: ``ForAllValues:`` holds when every value in the request matches, ``ForAnyValue:`` when
one does. ``Arn*`` operators match each of an ARN's six colon-separated parts on its own, so a
wildcard never spans a colon.

What the request carries is :data:`Context`: each key, lowercased (IAM's keys are
case-insensitive), with its values. Which keys a request has is not decided here (:mod:`actions`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Context = Mapping[str, tuple[str, ...]]

STRING, ARRAY_OF_STRING, ARN, BOOL, NUMERIC = "String", "ArrayOfString", "ARN", "Bool", "Numeric"
MULTIVALUED = frozenset({ARRAY_OF_STRING})

# operator -> (the key types it compares, whether it is negated)
_STRING_KEYS = frozenset({STRING, ARRAY_OF_STRING, ARN})
_OPERATORS: dict[str, tuple[frozenset[str], bool]] = {
    "StringEquals": (_STRING_KEYS, False),
    "StringNotEquals": (_STRING_KEYS, True),
    "StringEqualsIgnoreCase": (_STRING_KEYS, False),
    "StringNotEqualsIgnoreCase": (_STRING_KEYS, True),
    "StringLike": (_STRING_KEYS, False),
    "StringNotLike": (_STRING_KEYS, True),
    "ArnEquals": (frozenset({ARN}), False),
    "ArnLike": (frozenset({ARN}), False),
    "ArnNotEquals": (frozenset({ARN}), True),
    "ArnNotLike": (frozenset({ARN}), True),
    "NumericEquals": (frozenset({NUMERIC}), False),
    "NumericNotEquals": (frozenset({NUMERIC}), True),
    "NumericLessThan": (frozenset({NUMERIC}), False),
    "NumericLessThanEquals": (frozenset({NUMERIC}), False),
    "NumericGreaterThan": (frozenset({NUMERIC}), False),
    "NumericGreaterThanEquals": (frozenset({NUMERIC}), False),
    "Bool": (frozenset({BOOL}), False),
}
_SET_OPERATORS = ("ForAllValues", "ForAnyValue")
_NUMERIC_TESTS: dict[str, Callable[[float, float], bool]] = {
    "NumericEquals": lambda a, b: a == b,
    "NumericNotEquals": lambda a, b: a == b,  # negated by the caller
    "NumericLessThan": lambda a, b: a < b,
    "NumericLessThanEquals": lambda a, b: a <= b,
    "NumericGreaterThan": lambda a, b: a > b,
    "NumericGreaterThanEquals": lambda a, b: a >= b,
}


class ConditionError(ValueError):
    """A condition that cannot be evaluated; the message starts with its JSON path."""


@dataclass(frozen=True)
class Condition:
    """One key under one operator, e.g. ``ForAllValues:StringLike`` on ``sagemaker:InstanceTypes``."""

    operator: str
    key: str
    values: tuple[str, ...]
    set_operator: str | None = None
    if_exists: bool = False

    def holds(self, context: Context) -> bool:
        present = context.get(self.key, ())
        if self.operator == "Null":
            return any((value == "true") == (not present) for value in self.values)
        negated = _OPERATORS[self.operator][1]
        if not present:
            if self.if_exists or self.set_operator == "ForAllValues":
                return True
            return negated and self.set_operator is None
        if self.set_operator == "ForAnyValue":
            return any(self._matches(value) for value in present)
        return all(self._matches(value) for value in present)

    def _matches(self, value: str) -> bool:
        """Whether one request value satisfies the operator (OR over the listed values, NOR if negated)."""
        negated = _OPERATORS[self.operator][1]
        found = any(self._equal(value, wanted) for wanted in self.values)
        return not found if negated else found

    def _equal(self, value: str, wanted: str) -> bool:
        operator = self.operator.replace("Not", "")
        if operator == "StringEquals":
            return value == wanted
        if operator == "StringEqualsIgnoreCase":
            return value.casefold() == wanted.casefold()
        if operator == "StringLike":
            return wildcard(wanted).fullmatch(value) is not None
        if operator in ("ArnEquals", "ArnLike"):
            return _arn_matches(value, wanted)
        if operator == "Bool":
            return value.lower() == wanted.lower()
        return _NUMERIC_TESTS[self.operator](float(value), float(wanted))


def wildcard(text: str, flags: int = 0) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    return re.compile(re.escape(text).replace(r"\*", ".*").replace(r"\?", "."), flags)


def _arn_matches(value: str, wanted: str) -> bool:
    got, want = value.split(":", 5), wanted.split(":", 5)
    return len(got) == len(want) == 6 and all(
        wildcard(part).fullmatch(piece) is not None for piece, part in zip(got, want, strict=True)
    )


def parse_conditions(block: Any, where: str, key_type: Callable[[str], str | None]) -> tuple[Condition, ...]:
    """The conditions of a statement's ``Condition`` block, refused with the JSON path at fault.

    ``key_type`` gives a key's value type (:data:`STRING`, :data:`ARRAY_OF_STRING`...) or None for a
    key the requests never carry, which is refused: such a condition could never be decided as on AWS.
    """
    if not isinstance(block, Mapping) or not block:
        raise ConditionError(f"{where}: must be an object of condition operators")
    conditions = []
    for written, keys in block.items():
        at = f"{where}.{written}"
        set_operator, operator, if_exists = _split_operator(str(written), at)
        if not isinstance(keys, Mapping) or not keys:
            raise ConditionError(f"{at}: must be an object of condition keys and their values")
        for key, raw in keys.items():
            conditions.append(
                _condition(set_operator, operator, if_exists, str(key), raw, f"{at}.{key}", key_type)
            )
    return tuple(conditions)


def _split_operator(written: str, at: str) -> tuple[str | None, str, bool]:
    set_operator, colon, operator = written.partition(":")
    if not colon:
        set_operator, operator = "", written
    if set_operator and set_operator not in _SET_OPERATORS:
        raise ConditionError(f"{at}: unknown set operator {set_operator!r} (ForAllValues or ForAnyValue)")
    if_exists = operator.endswith("IfExists") and operator != "IfExists"
    operator = operator.removesuffix("IfExists") if if_exists else operator
    if operator != "Null" and operator not in _OPERATORS:
        raise ConditionError(
            f"{at}: operator {operator!r} is not evaluated by the local backend; it evaluates "
            f"{', '.join([*_OPERATORS, 'Null'])} (with ...IfExists, ForAllValues: and ForAnyValue:)"
        )
    if operator == "Null" and (if_exists or set_operator):
        raise ConditionError(f"{at}: Null takes neither IfExists nor a set operator")
    return set_operator or None, operator, if_exists


def _condition(
    set_operator: str | None,
    operator: str,
    if_exists: bool,
    key: str,
    raw: Any,
    at: str,
    key_type: Callable[[str], str | None],
) -> Condition:
    kind = key_type(key.lower())
    if kind is None:
        raise ConditionError(
            f"{at}: condition key {key!r} is not in the context of any request the local backend "
            "checks (docs/iam.md lists the keys it provides)"
        )
    values = tuple(_text(value, at) for value in (raw if isinstance(raw, list) else [raw]))
    if not values:
        raise ConditionError(f"{at}: give at least one value")
    if operator == "Null":
        if any(value not in ("true", "false") for value in values):
            raise ConditionError(f"{at}: Null takes 'true' or 'false'")
        return Condition(operator, key.lower(), values)
    if kind not in _OPERATORS[operator][0]:
        raise ConditionError(f"{at}: {operator} does not compare {kind} keys such as {key}")
    if kind in MULTIVALUED and set_operator is None:
        raise ConditionError(
            f"{at}: {key} is multivalued: write ForAllValues:{operator} or ForAnyValue:{operator}"
        )
    if kind == BOOL and any(value.lower() not in ("true", "false") for value in values):
        raise ConditionError(f"{at}: Bool takes 'true' or 'false'")
    if kind == NUMERIC:
        for value in values:
            try:
                float(value)
            except ValueError:
                raise ConditionError(f"{at}: {value!r} is not a number") from None
    if any("${" in value for value in values):
        raise ConditionError(f"{at}: policy variables (${{...}}) are not resolved by the local backend")
    return Condition(operator, key.lower(), values, set_operator, if_exists)


def _text(value: Any, at: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConditionError(f"{at}: values are strings, numbers or booleans, got {type(value).__name__}")

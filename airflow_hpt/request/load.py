"""Load a request template: find the file and parse it (JSON or YAML 1.2) before any rendering."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import yaml

from airflow_hpt.exceptions import TemplateError

REQUEST_FILE_SUFFIXES = (".json", ".json.j2", ".yaml", ".yml", ".yaml.j2")

_JINJA_HINT = (
    'hint: Jinja expressions must sit inside quoted strings, e.g. "Epochs": "{{ params.epochs }}" '
    "(the file is parsed as JSON/YAML before anything is rendered)"
)


def is_request_file(value: object) -> bool:
    """True for a string that names a request template file (by its suffix)."""
    return isinstance(value, str) and value.endswith(REQUEST_FILE_SUFFIXES)


class _DuplicateKey(Exception):
    """A JSON object or YAML mapping names the same key twice (the parsers would keep the last)."""

    def __init__(self, key: object, where: str = "") -> None:
        super().__init__(f"{where}duplicate key {key!r}")


class _Yaml12Loader(yaml.SafeLoader):
    """A SafeLoader with YAML 1.2 core-schema scalars that rejects duplicate keys.

    PyYAML resolves YAML 1.1 scalars: ``Off``/``no``/``on`` become booleans (so
    ``TrainingJobEarlyStoppingType: Off`` turns into False), ``012`` is octal, ``1:30`` is base 60
    and ``2024-01-01`` a date. Only true/false, decimal numbers and null are resolved here (an
    integer with a leading zero stays a string, keeping ``seed: 012`` as written); everything else
    stays a string and is coerced to the service model's type later.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` may be overridden by explicit keys: that is not a duplicate
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base class reports it ("found unhashable key", e.g. an unquoted {{ }})
            if key in seen:
                mark = key_node.start_mark
                raise _DuplicateKey(key, f"{mark.line + 1}:{mark.column + 1}: ")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Start from no resolvers at all rather than PyYAML's YAML 1.1 ones.
_Yaml12Loader.yaml_implicit_resolvers = {}
_YAML_1_2_SCALARS = (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?(?:0|[1-9][0-9]*)", "-+0123456789"),
    (
        "float",
        r"[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)",
        "-+.0123456789",
    ),
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    ("merge", r"<<", "<"),
)
for _tag, _pattern, _first in _YAML_1_2_SCALARS:
    _Yaml12Loader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(f"^(?:{_pattern})$"), list(_first)
    )
del _tag, _pattern, _first


def load_request_template(path_or_name: str, search_path: Sequence[str | os.PathLike[str]]) -> Any:
    """Find a request file and parse it (JSON or YAML) before any rendering.

    The result keeps its string leaves as Jinja templates for :func:`render_request`.
    """
    path = _find_template(path_or_name, search_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read request template: {exc}") from exc
    is_json = path.name.endswith((".json", ".json.j2"))
    parsed = _parse_json(path, text) if is_json else _parse_yaml(path, text)
    if not isinstance(parsed, dict):
        raise TemplateError(f"{path}: a request template must hold an object, not {type(parsed).__name__}")
    return parsed


def _find_template(path_or_name: str, search_path: Sequence[str | os.PathLike[str]]) -> Path:
    candidate = Path(path_or_name)
    candidates = [candidate] if candidate.is_absolute() else [Path(d) / candidate for d in search_path]
    for path in candidates:
        if path.is_file():
            return path
    searched = ", ".join(str(d) for d in search_path) or "(empty search path)"
    raise TemplateError(f"request template {path_or_name!r} not found (searched: {searched})")


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}; {_JINJA_HINT}"
        ) from exc
    except _DuplicateKey as exc:
        raise TemplateError(f"{path}: invalid JSON: {exc}") from exc


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass: no arbitrary objects
    except _DuplicateKey as exc:
        raise TemplateError(f"{path}:{exc}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise TemplateError(f"{where}: invalid YAML: {exc.problem or exc.context}; {_JINJA_HINT}") from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: invalid YAML: {exc}; {_JINJA_HINT}") from exc

"""Render, coerce, normalize and validate a CreateHyperParameterTuningJob request.

Pure logic shared by the operator, the CLI and the local backend: no Airflow import and no boto3
client. The schema comes from botocore's ``sagemaker`` service model, loaded lazily (it is a large
JSON file), so importing this module stays cheap. See ``docs/request.md`` for the rules.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import jinja2
import jinja2.nativetypes
import jinja2.sandbox
import yaml

from airflow_hpt.exceptions import InvalidTuningRequest, Problem, TemplateError

if TYPE_CHECKING:
    import regex
    from botocore.model import Shape, StructureShape

log = logging.getLogger(__name__)

REQUEST_FILE_SUFFIXES = (".json", ".json.j2", ".yaml", ".yml", ".yaml.j2")
OPERATION = "CreateHyperParameterTuningJob"
# Tags with this key prefix are added by the operator itself; they must not change the fingerprint.
INTERNAL_TAG_PREFIX = "airflow-hpt:"

_JINJA_HINT = (
    'hint: Jinja expressions must sit inside quoted strings, e.g. "Epochs": "{{ params.epochs }}" '
    "(the file is parsed as JSON/YAML before anything is rendered)"
)
# The old SageMaker Python SDK spellings; only the camel-case values exist on the wire.
_LEGACY_WARM_START_TYPES = {
    "IDENTICAL_DATA_AND_ALGORITHM": "IdenticalDataAndAlgorithm",
    "TRANSFER_LEARNING": "TransferLearning",
}
_MAX_RANGES = 30
_HYPERBAND_MAX_RESOURCE = 20000
# Longer enums (instance types: hundreds of values) are summarised with a close match instead.
_ENUM_LISTING_LIMIT = 12
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


# --------------------------------------------------------------------------------------------------
# Loading templates


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


# --------------------------------------------------------------------------------------------------
# Rendering

_SYNTAX_OPTIONS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
)


def make_jinja_environment(base: jinja2.Environment | None = None) -> jinja2.Environment:
    """A sandboxed, strict environment that renders every leaf to a plain string.

    ``base`` is typically the DAG's environment (filters, macros, loader). A sandboxed ``base`` is
    overlaid, which keeps its class and attribute policy. A native or unsandboxed one cannot be
    overlaid (native rendering would literal_eval rendered strings into dicts and lists), so a
    fresh SandboxedEnvironment takes over its syntax, extensions, loader, filters, tests and globals.
    ``keep_trailing_newline`` keeps literal leaves byte-identical; autoescape is off because the
    output is data, not HTML.
    """
    strict: dict[str, Any] = {
        "undefined": jinja2.StrictUndefined,
        "keep_trailing_newline": True,
        "autoescape": False,
    }
    if base is None:
        return jinja2.sandbox.SandboxedEnvironment(**strict)
    if isinstance(base, jinja2.sandbox.SandboxedEnvironment) and not isinstance(
        base, jinja2.nativetypes.NativeEnvironment
    ):
        return base.overlay(**strict)
    env = jinja2.sandbox.SandboxedEnvironment(
        **{option: getattr(base, option) for option in _SYNTAX_OPTIONS},
        extensions=[type(extension) for extension in base.extensions.values()],
        loader=base.loader,
        finalize=base.finalize,
        **strict,
    )
    env.filters.update(base.filters)
    env.tests.update(base.tests)
    env.globals.update(base.globals)
    env.policies.update(base.policies)
    return env


def render_request(template: Any, context: Mapping[str, Any], env: jinja2.Environment | None = None) -> Any:
    """Render every string leaf of ``template`` once, keeping the structure; keys are not rendered.

    A rendered value is never parsed or rendered again, so whatever a param contains (quotes,
    braces, ``{{ }}``, JSON or YAML syntax) it fills exactly its own leaf. All leaf errors are
    collected and raised together as one :class:`TemplateError`. ``env`` goes through
    :func:`make_jinja_environment` whatever it is.
    """
    # even an environment handed in (perhaps native or unsandboxed) renders strict plain strings
    jinja_env = make_jinja_environment(env)
    errors: list[str] = []
    rendered = _render_node(template, "", dict(context), jinja_env, errors)
    if errors:
        raise TemplateError("cannot render the request:\n" + "\n".join(f"  - {e}" for e in errors))
    return rendered


def _render_node(
    node: Any, path: str, context: dict[str, Any], env: jinja2.Environment, errors: list[str]
) -> Any:
    if isinstance(node, Mapping):
        return {
            key: _render_node(value, _member_path(path, key), context, env, errors)
            for key, value in node.items()
        }
    if isinstance(node, list | tuple):
        return [_render_node(item, f"{path}[{i}]", context, env, errors) for i, item in enumerate(node)]
    if isinstance(node, str):
        return _render_leaf(node, path, context, env, errors)
    return node


def _render_leaf(
    leaf: str, path: str, context: dict[str, Any], env: jinja2.Environment, errors: list[str]
) -> str:
    if not _has_jinja_syntax(leaf, env):
        # as is: Jinja would rewrite "\r\n" to newline_sequence even in a literal
        return leaf
    where = path or "<request>"
    try:
        return env.from_string(leaf).render(context)
    except jinja2.TemplateSyntaxError as exc:
        lines = leaf.splitlines() or [""]
        line = lines[min(exc.lineno, len(lines)) - 1]
        errors.append(f"{where}: Jinja syntax error: {exc.message} (template line {exc.lineno}: {line!r})")
    except jinja2.UndefinedError as exc:
        errors.append(f"{where}: undefined variable: {exc.message} (in template {leaf!r})")
    # filters, macros and Airflow's context accessors may raise anything; the path makes it findable
    except Exception as exc:
        errors.append(f"{where}: cannot render template {leaf!r}: {type(exc).__name__}: {exc}")
    return leaf


def _has_jinja_syntax(leaf: str, env: jinja2.Environment) -> bool:
    markers = (env.block_start_string, env.variable_start_string, env.comment_start_string)
    prefixes = (env.line_statement_prefix, env.line_comment_prefix)
    return any(marker in leaf for marker in markers) or any(p is not None and p in leaf for p in prefixes)


# --------------------------------------------------------------------------------------------------
# Paths


def _member_path(path: str, key: object) -> str:
    """``Parent.Member``; map keys that are not plain identifiers use JSON quoting: ``Parent["a b"]``."""
    text = str(key)
    if _PLAIN_KEY.fullmatch(text):
        return f"{path}.{text}" if path else text
    return f"{path}[{json.dumps(text, ensure_ascii=False)}]"


# --------------------------------------------------------------------------------------------------
# The service model


@functools.cache
def _input_shape() -> StructureShape:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model(OPERATION).input_shape
    assert shape is not None  # the operation always has an input
    return shape


@functools.cache
def _compiled(pattern: str) -> regex.Pattern[str]:
    import regex

    return regex.compile(pattern)


# --------------------------------------------------------------------------------------------------
# Coercion


class _NotCoercible(ValueError):
    """A scalar cannot be converted to its shape's type."""


# Plain ASCII decimals only: Python's int()/float() also take "1_000", "nan" and non-ASCII digits.
_INTEGER_TEXT = re.compile(r"\s*[-+]?[0-9]+\s*")
_DECIMAL_TEXT = re.compile(r"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")


def _to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _NotCoercible
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    raise _NotCoercible


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _NotCoercible
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        raise _NotCoercible
    number = float(value)
    if not math.isfinite(number):
        raise _NotCoercible
    return number


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _NotCoercible


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    # JSON spelling: a YAML `true` static hyperparameter reaches the container as "true", not "True"
    if isinstance(value, bool):
        return "true" if value else "false"
    # str() gives the shortest round-tripping form: 0.1 -> "0.1", 20 -> "20", 5.0 -> "5.0"
    if isinstance(value, int | float) and math.isfinite(value):
        return str(value)
    raise _NotCoercible


def _to_timestamp(value: Any) -> datetime | int | float:
    if isinstance(value, datetime | int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _NotCoercible


_SCALARS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "integer": (_to_integer, "an integer"),
    "long": (_to_integer, "an integer"),
    "float": (_to_float, "a finite number"),
    "double": (_to_float, "a finite number"),
    "boolean": (_to_boolean, "a boolean (true or false)"),
    "string": (_to_string, "a string"),
    "timestamp": (_to_timestamp, "a timestamp (ISO 8601 or epoch seconds)"),
}


def coerce_request(request: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Convert every leaf to its service-model type; report what cannot be converted.

    Needed because native Jinja rendering and YAML turn ``"42"`` into 42 and ``0.1`` into a float,
    while e.g. range bounds and static hyperparameters are strings on the wire. Values that cannot
    be converted are kept as they are; unknown members are kept for validation to report.
    """
    problems: list[Problem] = []
    coerced = _coerce(request, _input_shape(), "", problems)
    if not isinstance(coerced, dict):
        return {}, problems
    return coerced, problems


def _coerce(value: Any, shape: Shape, path: str, problems: list[Problem]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _coerce_structure(value, shape, path, problems)
    if kind == "list":
        if not isinstance(value, list | tuple):
            problems.append(Problem(path, f"must be a list (got {_describe(value)})"))
            return value
        return [_coerce(item, shape.member, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if kind == "map":
        return _coerce_map(value, shape, path, problems)
    if kind not in _SCALARS:
        return value
    convert, expected = _SCALARS[kind]
    try:
        return convert(value)
    except _NotCoercible:
        problems.append(Problem(path, f"must be {expected} (got {_describe(value)})"))
        return value


def _coerce_structure(value: Any, shape: Shape, path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be an object ({shape.name}) (got {_describe(value)})"))
        return value
    members = shape.members
    return {
        key: _coerce(item, members[key], _member_path(path, key), problems) if key in members else item
        for key, item in value.items()
    }


def _coerce_map(value: Any, shape: Shape, path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be an object of {shape.name} (got {_describe(value)})"))
        return value
    result: dict[Any, Any] = {}
    for key, item in value.items():
        # a YAML key like `1:` arrives as an int; map keys are strings on the wire
        new_key = _coerce(key, shape.key, _member_path(path, key), problems)
        result[new_key] = _coerce(item, shape.value, _member_path(path, new_key), problems)
    return result


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------------------------------
# Legacy spellings


def normalize_legacy(request: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy with old SDK spellings replaced by wire values (WarmStartConfig.WarmStartType)."""
    normalized = dict(request)
    warm_start = normalized.get("WarmStartConfig")
    if isinstance(warm_start, Mapping):
        legacy = warm_start.get("WarmStartType")
        wire = _LEGACY_WARM_START_TYPES.get(legacy) if isinstance(legacy, str) else None
        if wire is not None:
            log.warning("WarmStartConfig.WarmStartType %r is the old SDK spelling; using %r", legacy, wire)
            normalized["WarmStartConfig"] = {**warm_start, "WarmStartType": wire}
    return normalized


# --------------------------------------------------------------------------------------------------
# Validation against the model


def validate_request(request: Mapping[str, Any], *, require_name: bool = True) -> dict[str, Any]:
    """Coerce, normalize and validate; return the normalized request or raise with ALL problems.

    ``require_name=False`` lets the operator validate before it derives the job name.
    """
    coerced, problems = coerce_request(request)
    normalized = normalize_legacy(coerced)
    skip_required = set() if require_name else {"HyperParameterTuningJobName"}
    problems.extend(_check(normalized, _input_shape(), "", skip_required))
    problems.extend(_cross_field_problems(normalized))
    if problems:
        raise InvalidTuningRequest(problems)
    return normalized


def _check(
    value: Any, shape: Shape, path: str, skip_required: AbstractSet[str] = frozenset()
) -> Iterator[Problem]:
    """Model constraints; wrong types were reported by coercion and are skipped here."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        yield from _check_structure(value, shape, path, skip_required)
    elif kind == "list" and isinstance(value, list | tuple):
        yield from _check_size(len(value), shape, path, ("item", "items"))
        for i, item in enumerate(value):
            yield from _check(item, shape.member, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, Mapping):
        yield from _check_size(len(value), shape, path, ("entry", "entries"))
        for key, item in value.items():
            key_path = _member_path(path, key)
            yield from (Problem(key_path, f"key {p.rule}") for p in _check(key, shape.key, key_path))
            yield from _check(item, shape.value, key_path)
    elif kind == "string" and isinstance(value, str):
        yield from _check_string(value, shape, path)
    elif kind in ("integer", "long", "float", "double") and _is_number(value):
        yield from _check_number(value, shape, path)


def _check_structure(
    value: Mapping[str, Any], shape: Shape, path: str, skip_required: AbstractSet[str]
) -> Iterator[Problem]:
    members = shape.members
    for name in shape.required_members:
        if name not in value and _member_path(path, name) not in skip_required:
            yield Problem(_member_path(path, name), "is required")
    for key, item in value.items():
        if key in members:
            yield from _check(item, members[key], _member_path(path, key))
        else:
            yield Problem(_member_path(path, key), _unknown_member_rule(key, shape))


def _unknown_member_rule(key: object, shape: Shape) -> str:
    rule = f"is not a known member of {shape.name}"
    close = difflib.get_close_matches(str(key), list(shape.members), n=1)
    return f"{rule} (did you mean {close[0]}?)" if close else rule


def _check_size(size: int, shape: Shape, path: str, units: tuple[str, str]) -> Iterator[Problem]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        yield Problem(path, f"must have at least {low} {units[low != 1]} (has {size})")
    if high is not None and size > high:
        yield Problem(path, f"must have at most {high} {units[high != 1]} (has {size})")


def _check_string(value: str, shape: Shape, path: str) -> Iterator[Problem]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        yield Problem(
            path, f"must be at least {low} character{'s' if low != 1 else ''} long (is {len(value)})"
        )
    if high is not None and len(value) > high:
        yield Problem(path, f"must be at most {high} characters (is {len(value)})")
    enum = shape.enum
    if enum and value not in enum:
        yield Problem(path, _enum_rule(value, enum, shape.name))
    pattern = shape.metadata.get("pattern")
    # Java regex semantics: the whole value must match, hence fullmatch
    if pattern is not None and _compiled(pattern).fullmatch(value) is None:
        yield Problem(path, f"must match pattern {pattern} (got {_describe(value)})")


def _enum_rule(value: str, enum: list[str], shape_name: str) -> str:
    if len(enum) <= _ENUM_LISTING_LIMIT:
        return f"must be one of: {', '.join(enum)} (got {_describe(value)})"
    close = difflib.get_close_matches(value, enum, n=1)
    hint = f"; closest: {close[0]}" if close else ""
    return f"must be one of the {len(enum)} {shape_name} values (got {_describe(value)}{hint})"


def _check_number(value: float, shape: Shape, path: str) -> Iterator[Problem]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        yield Problem(path, f"must be at least {low} (got {value})")
    if high is not None and value > high:
        yield Problem(path, f"must be at most {high} (got {value})")


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------
# Cross-field rules (SageMaker developer guide; the model cannot express them)


def _cross_field_problems(request: Mapping[str, Any]) -> list[Problem]:
    config = _mapping(request.get("HyperParameterTuningJobConfig"))
    definitions = list(_definitions(request))
    problems = [
        *_definition_choice(request),
        *_strategy_problems(config, definitions),
        *_resource_limit_problems(config),
        *_warm_start_problems(request),
        *_tag_problems(request.get("Tags")),
    ]
    for range_path, ranges, static in _range_sets(config, definitions):
        problems.extend(_range_set_problems(range_path, ranges, static))
    for definition_path, definition in definitions:
        problems.extend(_definition_problems(definition_path, definition, config))
    problems.extend(_definition_name_problems(definitions))
    return problems


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """(index, entry) of the mapping entries of a list; anything else was already reported."""
    if not isinstance(value, list | tuple):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _definitions(request: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(request.get("TrainingJobDefinition"), Mapping):
        yield "TrainingJobDefinition", request["TrainingJobDefinition"]
    for i, definition in _items(request.get("TrainingJobDefinitions")):
        yield f"TrainingJobDefinitions[{i}]", definition


def _definition_choice(request: Mapping[str, Any]) -> Iterator[Problem]:
    single, multiple = "TrainingJobDefinition" in request, "TrainingJobDefinitions" in request
    if single and multiple:
        yield Problem(
            "TrainingJobDefinitions", "cannot be given together with TrainingJobDefinition: use one"
        )
    elif not single and not multiple:
        yield Problem(
            "TrainingJobDefinition", "is required (or TrainingJobDefinitions for several algorithms)"
        )


def _definition_name_problems(definitions: list[tuple[str, Mapping[str, Any]]]) -> Iterator[Problem]:
    seen: set[str] = set()
    for path, definition in definitions:
        name = definition.get("DefinitionName")
        if isinstance(name, str):
            if name in seen:
                yield Problem(f"{path}.DefinitionName", f"duplicates definition name {name!r}")
            seen.add(name)


# ---- parameter ranges


_RANGE_KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")


def _range_sets(
    config: Mapping[str, Any], definitions: list[tuple[str, Mapping[str, Any]]]
) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """(path, ranges, static hyperparameters) for every ParameterRanges object of the request."""
    single = dict(definitions).get("TrainingJobDefinition", {})
    if isinstance(config.get("ParameterRanges"), Mapping):
        static = _mapping(single.get("StaticHyperParameters"))
        yield "HyperParameterTuningJobConfig.ParameterRanges", config["ParameterRanges"], static
    for path, definition in definitions:
        if isinstance(definition.get("HyperParameterRanges"), Mapping):
            static = _mapping(definition.get("StaticHyperParameters"))
            yield f"{path}.HyperParameterRanges", definition["HyperParameterRanges"], static


def _range_set_problems(path: str, ranges: Mapping[str, Any], static: Mapping[str, Any]) -> Iterator[Problem]:
    total = sum(len(_items(ranges.get(kind))) for kind in _RANGE_KINDS)
    if total > _MAX_RANGES:
        yield Problem(
            path,
            f"must have at most {_MAX_RANGES} parameter ranges in total "
            f"(integer + continuous + categorical), has {total}",
        )
    yield from _range_name_problems(path, ranges, static)
    for i, entry in _items(ranges.get("IntegerParameterRanges")):
        yield from _bounds_problems(f"{path}.IntegerParameterRanges[{i}]", entry, integer=True)
    for i, entry in _items(ranges.get("ContinuousParameterRanges")):
        yield from _bounds_problems(f"{path}.ContinuousParameterRanges[{i}]", entry, integer=False)
    for i, entry in _items(ranges.get("CategoricalParameterRanges")):
        yield from _duplicate_value_problems(
            f"{path}.CategoricalParameterRanges[{i}].Values", entry.get("Values")
        )


def _range_name_problems(
    path: str, ranges: Mapping[str, Any], static: Mapping[str, Any]
) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for kind in _RANGE_KINDS:
        for i, entry in _items(ranges.get(kind)):
            name, name_path = entry.get("Name"), f"{path}.{kind}[{i}].Name"
            if not isinstance(name, str):
                continue
            if name in seen:
                yield Problem(name_path, f"duplicates parameter name {name!r} (also at {seen[name]})")
            seen.setdefault(name, name_path)
            if name in static:
                yield Problem(
                    name_path,
                    f"{name!r} is also a static hyperparameter: a parameter is either tuned or static",
                )


def _bounds_problems(path: str, entry: Mapping[str, Any], *, integer: bool) -> Iterator[Problem]:
    parse, expected = (_to_integer, "an integer") if integer else (_to_float, "a finite number")
    bounds: dict[str, float] = {}
    for member in ("MinValue", "MaxValue"):
        raw = entry.get(member)
        if not isinstance(raw, str):
            continue  # missing or wrongly typed: already reported
        try:
            bounds[member] = parse(raw)
        except _NotCoercible:
            yield Problem(f"{path}.{member}", f"must be {expected} written as a string (got {raw!r})")
    low, high = bounds.get("MinValue"), bounds.get("MaxValue")
    if low is not None and high is not None and not low < high:
        yield Problem(f"{path}.MaxValue", f"must be greater than MinValue ({entry['MinValue']})")
    yield from _scaling_problems(path, entry.get("ScalingType"), low, high, integer=integer)


def _scaling_problems(
    path: str, scaling: Any, low: float | None, high: float | None, *, integer: bool
) -> Iterator[Problem]:
    if scaling == "Logarithmic" and low is not None and low <= 0:
        yield Problem(f"{path}.MinValue", "must be greater than 0 with Logarithmic scaling")
    if scaling != "ReverseLogarithmic":
        return
    if integer:
        yield Problem(f"{path}.ScalingType", "ReverseLogarithmic applies only to continuous ranges")
        return
    if low is not None and low < 0:
        yield Problem(f"{path}.MinValue", "must be at least 0 with ReverseLogarithmic scaling (0 <= x < 1)")
    if high is not None and high >= 1:
        yield Problem(f"{path}.MaxValue", "must be less than 1 with ReverseLogarithmic scaling (0 <= x < 1)")


def _duplicate_value_problems(path: str, values: Any) -> Iterator[Problem]:
    if not isinstance(values, list | tuple):
        return
    seen: set[Any] = set()
    for j, value in enumerate(values):
        if isinstance(value, str) and value in seen:
            yield Problem(f"{path}[{j}]", f"duplicates categorical value {value!r}")
        seen.add(value)


# ---- strategy and limits


_CONFIG = "HyperParameterTuningJobConfig"


def _strategy_problems(
    config: Mapping[str, Any], definitions: list[tuple[str, Mapping[str, Any]]]
) -> Iterator[Problem]:
    strategy = config.get("Strategy")
    hyperband = _mapping(_mapping(config.get("StrategyConfig")).get("HyperbandStrategyConfig"))
    if "StrategyConfig" in config and isinstance(strategy, str) and strategy != "Hyperband":
        yield Problem(
            f"{_CONFIG}.StrategyConfig", f"applies only to the Hyperband strategy (Strategy is {strategy})"
        )
    if strategy == "Hyperband":
        yield from _hyperband_problems(config, hyperband)
    if strategy == "Grid":
        yield from _grid_problems(config, definitions)


def _hyperband_problems(config: Mapping[str, Any], hyperband: Mapping[str, Any]) -> Iterator[Problem]:
    early_stopping = config.get("TrainingJobEarlyStoppingType")
    if early_stopping is not None and early_stopping != "Off":
        yield Problem(f"{_CONFIG}.TrainingJobEarlyStoppingType", "must be Off with the Hyperband strategy")
    path = f"{_CONFIG}.StrategyConfig.HyperbandStrategyConfig"
    low, high = hyperband.get("MinResource"), hyperband.get("MaxResource")
    if _is_number(high) and high > _HYPERBAND_MAX_RESOURCE:
        yield Problem(f"{path}.MaxResource", f"must be at most {_HYPERBAND_MAX_RESOURCE} (got {high})")
    if _is_number(low) and _is_number(high) and low > high:
        yield Problem(f"{path}.MinResource", f"must be at most MaxResource ({high})")


def _grid_problems(
    config: Mapping[str, Any], definitions: list[tuple[str, Mapping[str, Any]]]
) -> Iterator[Problem]:
    combinations = 0
    for path, ranges, _static in _range_sets(config, definitions):
        for kind in ("IntegerParameterRanges", "ContinuousParameterRanges"):
            if _items(ranges.get(kind)):
                yield Problem(f"{path}.{kind}", "the Grid strategy takes categorical ranges only")
        counts = [
            _distinct_count(entry.get("Values"))
            for _i, entry in _items(ranges.get("CategoricalParameterRanges"))
        ]
        combinations += math.prod(counts) if counts else 0
    limit = _mapping(config.get("ResourceLimits")).get("MaxNumberOfTrainingJobs")
    if _is_number(limit) and combinations and limit != combinations:
        yield Problem(
            f"{_CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
            f"must equal the number of Grid combinations ({combinations}) or be omitted (got {limit})",
        )


def _distinct_count(values: Any) -> int:
    return len({v for v in values if isinstance(v, str)}) if isinstance(values, list | tuple) else 0


def _resource_limit_problems(config: Mapping[str, Any]) -> Iterator[Problem]:
    limits = _mapping(config.get("ResourceLimits"))
    parallel, total = limits.get("MaxParallelTrainingJobs"), limits.get("MaxNumberOfTrainingJobs")
    if _is_number(parallel) and _is_number(total) and parallel > total:
        yield Problem(
            f"{_CONFIG}.ResourceLimits.MaxParallelTrainingJobs",
            f"must be at most MaxNumberOfTrainingJobs ({total})",
        )


# ---- training job definitions


def _definition_problems(
    path: str, definition: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[Problem]:
    algorithm = _mapping(definition.get("AlgorithmSpecification"))
    if "AlgorithmSpecification" in definition and ("TrainingImage" in algorithm) == (
        "AlgorithmName" in algorithm
    ):
        yield Problem(
            f"{path}.AlgorithmSpecification", "must have exactly one of TrainingImage or AlgorithmName"
        )
    if "TrainingImage" in algorithm:
        yield from _objective_metric_problems(path, definition, algorithm, config)
    channels = [(i, c.get("ChannelName")) for i, c in _items(definition.get("InputDataConfig"))]
    seen: set[Any] = set()
    for i, name in channels:
        if isinstance(name, str) and name in seen:
            yield Problem(f"{path}.InputDataConfig[{i}].ChannelName", f"duplicates channel name {name!r}")
        seen.add(name)


def _objective_metric_problems(
    path: str, definition: Mapping[str, Any], algorithm: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[Problem]:
    """With a TrainingImage that declares MetricDefinitions, the objective must be one of them.

    Without any, nothing is checked: built-in algorithms are also given as a TrainingImage and
    publish their own metrics, and an image alone does not tell a built-in from a custom one.
    """
    if isinstance(definition.get("TuningObjective"), Mapping):
        objective, objective_path = definition["TuningObjective"], f"{path}.TuningObjective"
    else:
        objective = _mapping(config.get("HyperParameterTuningJobObjective"))
        objective_path = f"{_CONFIG}.HyperParameterTuningJobObjective"
    metric = objective.get("MetricName")
    if not isinstance(metric, str):
        return
    names = [m.get("Name") for _i, m in _items(algorithm.get("MetricDefinitions"))]
    if names and metric not in names:
        yield Problem(
            f"{objective_path}.MetricName",
            f"must be one of the MetricDefinitions names of {path}.AlgorithmSpecification: "
            + ", ".join(str(n) for n in names),
        )


# ---- warm start and tags


def _warm_start_problems(request: Mapping[str, Any]) -> Iterator[Problem]:
    warm_start = _mapping(request.get("WarmStartConfig"))
    own_name = request.get("HyperParameterTuningJobName")
    seen: set[str] = set()
    for i, parent in _items(warm_start.get("ParentHyperParameterTuningJobs")):
        path = f"WarmStartConfig.ParentHyperParameterTuningJobs[{i}].HyperParameterTuningJobName"
        name = parent.get("HyperParameterTuningJobName")
        if name is None:
            yield Problem(path, "is required")
        if not isinstance(name, str):
            continue
        # tuning job names are case-insensitive
        if name.lower() in seen:
            yield Problem(path, f"duplicates parent {name!r} (names are case-insensitive)")
        if isinstance(own_name, str) and name.lower() == own_name.lower():
            yield Problem(path, "cannot be the new tuning job itself")
        seen.add(name.lower())


def _tag_problems(tags: Any) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, tag in _items(tags):
        key = tag.get("Key")
        if not isinstance(key, str):
            continue
        if key in seen:
            yield Problem(f"Tags[{i}].Key", f"duplicates tag key {key!r}")
        if key.lower().startswith("aws:"):
            yield Problem(f"Tags[{i}].Key", "must not start with 'aws:' (reserved for AWS)")
        seen.add(key)


# --------------------------------------------------------------------------------------------------
# Fingerprint


def fingerprint(request: Mapping[str, Any]) -> str:
    """First 16 hex chars of the sha256 of the canonical JSON of the normalized request.

    Tags whose key starts with ``airflow-hpt:`` are left out: the operator adds them, so a retry
    of the same rendered request gets the same fingerprint.
    """
    coerced, _problems = coerce_request(request)
    normalized = normalize_legacy(coerced)
    tags = normalized.get("Tags")
    if isinstance(tags, list):
        kept = [tag for tag in tags if not _is_internal_tag(tag)]
        # no tags and only internal tags must hash alike: the operator may add the Tags member itself
        if kept:
            normalized["Tags"] = kept
        else:
            del normalized["Tags"]
    canonical = json.dumps(normalized, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _is_internal_tag(tag: Any) -> bool:
    return isinstance(tag, Mapping) and str(tag.get("Key", "")).startswith(INTERNAL_TAG_PREFIX)

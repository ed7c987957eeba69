"""Render a parsed request template leaf by leaf in a strict, sandboxed Jinja environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.nativetypes
import jinja2.sandbox

from airflow_hpt.exceptions import TemplateError
from airflow_hpt.request.model import member_path

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
            key: _render_node(value, member_path(path, key), context, env, errors)
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

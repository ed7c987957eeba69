"""The tuning operator's request as a callable template field: rendered leaf by leaf, at run time.

Kept light to import (DAG parse time), like the operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context


class RequestTemplate:
    """The request as written: a dict or a template file's path, rendered leaf by leaf.

    Airflow calls a callable template field with the context and the DAG's Jinja environment. That is
    the one rendering path that mapped tasks share with plain ones, and it keeps Airflow's own
    rendering, which would read a template file as one text blob, away from the request.
    """

    def __init__(self, source: Mapping[str, Any] | str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return repr(self.source)

    def __call__(self, *, context: Context, jinja_env: jinja2.Environment) -> Any:
        """The rendered request, so no value can change its structure.

        Secrets known to Airflow's masker are masked in the error (see docs/security.md).
        """
        from airflow.sdk.log import redact

        from airflow_hpt.exceptions import TemplateError
        from airflow_hpt.request import (
            is_request_file,
            load_request_template,
            make_jinja_environment,
            render_request,
        )

        failure: TemplateError | None = None
        try:
            template: Any = self.source
            if is_request_file(template):
                template = load_request_template(str(template), _search_path(context, jinja_env))
            elif not isinstance(template, Mapping):
                raise TemplateError(
                    "request must be a dict or the path of a .json, .json.j2, .yaml, .yml or .yaml.j2 "
                    f"file, got {type(template).__name__}: {str(template)[:80]!r}"
                )
            return render_request(template, context, make_jinja_environment(jinja_env))
        except TemplateError as error:
            failure = error.redacted(redact)
        raise failure  # outside the except block: a redacted copy does not chain to the original


def _search_path(context: Context, jinja_env: jinja2.Environment) -> list[str]:
    searchpath = getattr(jinja_env.loader, "searchpath", None)
    if searchpath:
        return [str(path) for path in searchpath]
    dag = context.get("dag")
    return [dag.folder] if dag is not None else []

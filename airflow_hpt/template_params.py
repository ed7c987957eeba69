"""What ``airflow-hpt validate`` renders a request template with, outside Airflow.

The params come from the DAG that uses the template (its ``Param`` defaults), from a params file,
or from ``--param``; the task context is replaced by stand-ins (``ds``, ``logical_date``, ``run_id``...)
computed from one logical date, so a template that uses them renders as a run of that date would.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# the stand-ins' run id: what a manual trigger's run id looks like
STAND_IN_RUN_ID = "manual__{ts}"


class ParamsSourceError(ValueError):
    """A DAG file or params file that gives no params for the template."""


@dataclass(frozen=True)
class TemplateParams:
    """Params for a template, and the ids of the DAG and task that use it (when known)."""

    params: dict[str, Any] = field(default_factory=dict)
    dag_id: str = "cli"
    task_id: str = "cli"
    source: str = "--param only"


def from_dag_file(dag_file: Path, template: Path) -> TemplateParams:
    """The ``Param`` defaults of the DAG in ``dag_file`` whose task renders ``template``.

    The file is imported as Airflow's DAG processor would import it (so Airflow must be installed).
    A task uses the template when its ``request`` names it, relative to the DAG's folder or its
    ``template_searchpath``; a file with a single DAG needs no such task.
    """
    dags = _dags_in(dag_file)
    if not dags:
        raise ParamsSourceError(f"--dag {dag_file}: no DAG defined in it")
    for dag in dags:
        for task in dag.tasks:
            if _renders(task, dag, template):
                return TemplateParams(dict(dag.params.dump()), dag.dag_id, task.task_id, f"DAG {dag.dag_id}")
    if len(dags) == 1:
        dag = dags[0]
        return TemplateParams(dict(dag.params.dump()), dag.dag_id, "cli", f"DAG {dag.dag_id}")
    names = ", ".join(sorted(dag.dag_id for dag in dags))
    raise ParamsSourceError(
        f"--dag {dag_file}: none of its DAGs ({names}) has a task whose request is {template}"
    )


def from_params_file(path: Path) -> TemplateParams:
    """Params from a JSON or YAML mapping (``{"max_jobs": 8}``), as a run's conf gives them."""
    import yaml

    try:
        text = path.read_text()
        loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, json.JSONDecodeError, yaml.YAMLError) as error:
        raise ParamsSourceError(f"--params-file {path}: {error}") from None
    if not isinstance(loaded, dict):
        raise ParamsSourceError(f"--params-file {path}: must hold a mapping of param names to values")
    return TemplateParams(loaded, source=f"params file {path}")


def stand_in_context(source: TemplateParams, logical_date: datetime) -> dict[str, Any]:
    """The parts of a task context request templates commonly use, for a run at ``logical_date``."""
    ts = logical_date.isoformat()
    return {
        "params": source.params,
        "ds": logical_date.date().isoformat(),
        "ds_nodash": logical_date.strftime("%Y%m%d"),
        "ts": ts,
        "ts_nodash": logical_date.strftime("%Y%m%dT%H%M%S"),
        "logical_date": logical_date,
        "run_id": STAND_IN_RUN_ID.format(ts=ts),
        "dag": {"dag_id": source.dag_id},
        "task": {"task_id": source.task_id},
    }


def describe_stand_ins(context: dict[str, Any], source: TemplateParams) -> str:
    """One line per stand-in, for ``--show``: what the rendering used in place of a real run."""
    lines = [f"Rendered with params from {source.source} and these context stand-ins:"]
    for name in ("ds", "ds_nodash", "ts", "ts_nodash", "logical_date", "run_id"):
        lines.append(f"  {name} = {context[name]}")
    lines.append(f"  dag.dag_id = {context['dag']['dag_id']}")
    lines.append(f"  task.task_id = {context['task']['task_id']}")
    return "\n".join(lines)


def today() -> datetime:
    """The default logical date: midnight UTC today, as a daily run's would be."""
    now = datetime.now(tz=UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _dags_in(dag_file: Path) -> list[Any]:
    """The file's DAGs, loaded by Airflow's own DagBag (as the DAG processor loads them)."""
    from airflow.dag_processing.dagbag import DagBag

    if not dag_file.is_file():
        raise ParamsSourceError(f"--dag {dag_file}: no such file")
    # the DagBag logs as it loads; stdout is kept for the rendered request
    with contextlib.redirect_stdout(sys.stderr):
        bag = DagBag(dag_folder=dag_file, safe_mode=False)
    if bag.import_errors:
        errors = "\n".join(bag.import_errors.values())
        raise ParamsSourceError(f"--dag {dag_file}: Airflow cannot import it:\n{errors}")
    return list(bag.dags.values())


def _renders(task: Any, dag: Any, template: Path) -> bool:
    request = getattr(task, "request", None)
    # CreateTuningJobOperator keeps the request as written in a RequestTemplate's source
    request = getattr(request, "source", request)
    if not isinstance(request, str):
        return False
    folders = [Path(dag.fileloc).parent, *(Path(folder) for folder in _search_path(dag))]
    return any((folder / request).resolve() == template.resolve() for folder in folders)


def _search_path(dag: Any) -> list[str]:
    searchpath = getattr(dag, "template_searchpath", None) or []
    return [searchpath] if isinstance(searchpath, str) else list(searchpath)

"""The "Tuning job" view's FastAPI app, mounted by the plugin at /hpt on Airflow's api-server.

Mounted apps get no authentication from Airflow: each route depends on the core API's own
``requires_access_dag`` (the auth manager's ``is_authorized_dag`` for the task instances of the path's
DAG), which reads the user from a bearer token or from the UI's session cookie, as the REST API does.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any
from urllib.parse import quote

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from airflow_hpt.ui.source import NotFound, read_view, task_tuning_job

READ_TASK_INSTANCES = [Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))]

app = FastAPI(
    title="airflow-hpt: tuning job view",
    description="The SageMaker tuning job of a CreateTuningJobOperator or TuningJobSensor task instance.",
)


def _map_index(value: str) -> int:
    """The map index; -1 (an unmapped task) for anything else: Airflow's UI leaves the `{MAP_INDEX}`
    placeholder of an external view's href as it is on the task instance of an unmapped task."""
    return int(value) if re.fullmatch(r"-?\d+", value) else -1


def _tuning_data(dag_id: str, run_id: str, task_id: str, map_index: int, session: Any) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    from airflow_hpt.hooks.tuning import IncompleteAnswer

    try:
        job = task_tuning_job(dag_id, run_id, task_id, map_index, session)
    except NotFound as error:
        raise HTTPException(404, str(error)) from error
    try:
        return read_view(job)
    except ClientError as error:
        detail = error.response.get("Error", {})
        raise HTTPException(
            502, f"SageMaker refused to describe {job.name}: {detail.get('Code')}: {detail.get('Message')}"
        ) from error
    except (BotoCoreError, IncompleteAnswer) as error:
        raise HTTPException(502, f"SageMaker could not be read for {job.name}: {error}") from error
    except Exception as error:
        # an undefined connection, for one: its id is not a secret, its contents never reach here
        if type(error).__name__ == "AirflowNotFoundException":
            raise HTTPException(
                502, f"The task's AWS connection {job.fields.get('aws_conn_id')!r} is not defined"
            ) from error
        raise


@app.get("/api/tuning/{dag_id}/{run_id}/{task_id}", dependencies=READ_TASK_INSTANCES)
def tuning_json(dag_id: str, run_id: str, task_id: str, session: SessionDep, map_index: str = "-1") -> Any:
    """The view's data: the job, its training jobs, the chart's series and what it consumed."""
    return _tuning_data(dag_id, run_id, task_id, _map_index(map_index), session)


@app.get("/tuning/{dag_id}/{run_id}/{task_id}", dependencies=READ_TASK_INSTANCES, response_class=HTMLResponse)
def tuning_page(
    request: Request, dag_id: str, run_id: str, task_id: str, session: SessionDep, map_index: str = "-1"
) -> HTMLResponse:
    """The view as a self-contained page (no CDN): it refreshes its data while the job runs."""
    index = _map_index(map_index)
    try:
        data: dict[str, Any] | None = _tuning_data(dag_id, run_id, task_id, index, session)
        problem = None
    except HTTPException as error:
        if error.status_code != 404:
            raise
        # a task that has not created its job yet: the page waits for it
        data, problem = None, str(error.detail)
    parts = "/".join(quote(part, safe="") for part in (dag_id, run_id, task_id))
    root = request.scope.get("root_path", "")
    boot = {
        "api": f"{root}/api/tuning/{parts}?map_index={index}",
        "view": f"{root}/tuning/",
        "data": data,
        "problem": problem,
        "task": {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": index},
    }
    return HTMLResponse(page_html(boot))


def page_html(boot: dict[str, Any]) -> str:
    """The page with its first data inside: a training script's failure reason is text, never markup."""
    # inside a <script> element: nothing in the data may close it
    embedded = json.dumps(boot).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = resources.files("airflow_hpt.ui").joinpath("page.html").read_text(encoding="utf-8")
    return page.replace("__BOOT__", embedded)

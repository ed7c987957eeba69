"""Operator extra link to the tuning job: the SageMaker console, or the "Tuning job" view on a local
backend (an ``endpoint_url``), where the console has nothing to show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink

# where the provider's plugin serves the view on the api-server (airflow_hpt.ui.plugin)
VIEW_PATH = "/hpt/tuning/"


def view_url(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The "Tuning job" view of a task instance, relative to the api-server's root."""
    parts = "/".join(quote(part, safe="") for part in (dag_id, run_id, task_id))
    return f"{VIEW_PATH}{parts}?map_index={map_index}"


def tuning_view_url(operator: Any, context: Mapping[str, Any]) -> str:
    """The view of the task instance that `context` runs (the run id and map index as the job name
    takes them)."""
    map_index = context["ti"].map_index
    return view_url(
        operator.dag_id, context["run_id"], operator.task_id, -1 if map_index is None else map_index
    )


class TuningJobLink(BaseAwsLink):
    """The SageMaker console page of the tuning job (partition- and region-aware), or the view."""

    name = "SageMaker Tuning Job"
    key = "airflow_hpt_tuning_job"
    format_str = BASE_AWS_CONSOLE_LINK + "/sagemaker/home?region={region_name}#/hyper-tuning-jobs/{job_name}"

    def format_link(self, **kwargs: Any) -> str:
        view_url = kwargs.get("view_url")
        return str(view_url) if view_url else super().format_link(**kwargs)

"""Deploy every new best model of ``retrain_weekly`` to a candidate endpoint.

Scheduled on the ``best-model`` asset: each time a weekly tuning job finishes, this DAG deploys its
best model (the training job's artifacts, from the asset event's extra) to
``endpoint_name`` (default ``digits-classifier-candidate``), where it can be evaluated side by side
with the production endpoint that ``retrain_weekly`` updates only for better models. No XCom of the
other DAG is read. A manual run deploys the latest model the asset has seen. The model is served by
``training/serve_sklearn.py``, as in ``retrain_weekly``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, get_current_context, task

from airflow_hpt import DeployModelOperator

# The asset retrain_weekly.py updates (an asset is identified by its name and URI).
BEST_MODEL = Asset("airflow-hpt://retrain_weekly/best-model")
# Resolved where this file is parsed, so the default follows the dags folder wherever it is mounted.
TRAINING_CODE = Path(__file__).resolve().parent / "training"

log = logging.getLogger(__name__)


def announced_model(
    triggering_events: Mapping[Any, Sequence[Any]], inlet_events: Sequence[Any]
) -> dict[str, Any]:
    """The extra of the event that triggered the run, else (a manual run) of the asset's latest event."""
    events = [event for batch in triggering_events.values() for event in batch] or list(inlet_events)
    if not events:
        raise ValueError(f"no event of {BEST_MODEL.uri} yet: run retrain_weekly first")
    extra = dict(events[-1].extra)
    log.info(
        "New model: %s (%s=%s) of tuning job %s",
        extra["best_training_job_name"],
        extra["objective_metric"],
        extra["objective_value"],
        extra["tuning_job_name"],
    )
    return extra


@task(inlets=[BEST_MODEL])
def new_model() -> dict[str, Any]:
    context = get_current_context()
    return announced_model(context["triggering_asset_events"], context["inlet_events"][BEST_MODEL])


with DAG(
    dag_id="deploy_on_new_model",
    description="Deploy each new best model of retrain_weekly to the candidate endpoint",
    schedule=[BEST_MODEL],
    start_date=pendulum.datetime(2026, 1, 4, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["airflow-hpt", "example"],
    doc_md=__doc__,
    params={
        "endpoint_name": Param("digits-classifier-candidate", type="string"),
        "inference_image": Param("local/sklearn-serve:latest", type="string"),
        "inference_source_dir": Param(str(TRAINING_CODE), type="string", minLength=1),
        "inference_entry_point": Param("serve_sklearn.py", type="string", minLength=1),
        "role_arn": Param(
            "arn:aws:iam::123456789012:role/SageMakerRole", type="string", pattern="^arn:aws[a-z-]*:iam::"
        ),
    },
) as dag:
    DeployModelOperator(
        task_id="deploy",
        result=new_model(),
        endpoint_name="{{ params.endpoint_name }}",
        image="{{ params.inference_image }}",
        execution_role_arn="{{ params.role_arn }}",
        entry_point="{{ params.inference_entry_point }}",
        source_dir="{{ params.inference_source_dir }}",
    )

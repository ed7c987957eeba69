"""The store's files: each holds a resource's Describe members (``fields``) and the backend's
bookkeeping (``book``); a backend reads them back, and reads a home an earlier version wrote (one dict,
the bookkeeping among the members under names prefixed with "_"), answering from it alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import make_client, quadratic_request, training_jobs, wait_for
from tests.local.test_training_jobs import training_request, wait_training
from tests.waiting import wait_until

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
TAGS = [{"Key": "team", "Value": "search"}]


def answers(client: Any) -> dict[str, Any]:
    """What the backend answers of the resources ``make_resources`` made, request metadata aside."""

    def answer(response: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in response.items() if key != "ResponseMetadata"}

    tuning_job = answer(client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="kept"))
    trials = training_jobs(client, "kept")
    arns = [
        tuning_job["HyperParameterTuningJobArn"],
        client.describe_model(ModelName="m")["ModelArn"],
        client.describe_endpoint(EndpointName="e")["EndpointArn"],
    ]
    return {
        "tuning job": tuning_job,
        "its training jobs": trials,
        "training jobs": [
            answer(client.describe_training_job(TrainingJobName=name))
            for name in ["solo", *(trial["TrainingJobName"] for trial in trials)]
        ],
        "endpoint": answer(client.describe_endpoint(EndpointName="e")),
        "tags": [client.list_tags(ResourceArn=arn)["Tags"] for arn in arns],
    }


def make_resources(client: Any) -> None:
    """A tuning job, a standalone training job, a model and an endpoint, all tagged and ended."""
    client.create_hyper_parameter_tuning_job(**quadratic_request("kept", max_jobs=2), Tags=TAGS)
    client.create_training_job(**training_request("solo"), Tags=TAGS)
    container = {"Image": "img:1", "ModelDataUrl": "s3://models/none.tar.gz"}
    client.create_model(ModelName="m", PrimaryContainer=container, ExecutionRoleArn=ROLE, Tags=TAGS)
    variants = [
        {"VariantName": "all", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    ]
    client.create_endpoint_config(EndpointConfigName="c", ProductionVariants=variants)
    client.create_endpoint(EndpointName="e", EndpointConfigName="c", Tags=TAGS)
    # the model data is missing: the endpoint settles Failed
    wait_until(
        "the endpoint to settle",
        lambda: client.describe_endpoint(EndpointName="e")["EndpointStatus"] == "Failed",
    )
    assert wait_for(client, "kept")["HyperParameterTuningJobStatus"] == "Completed"
    assert wait_training(client, "solo")["TrainingJobStatus"] == "Completed"


def as_written_before(path: Path) -> None:
    """Rewrite a resource's file as the backend kept it before its bookkeeping had types."""
    saved = json.loads(path.read_text())
    flat = {**saved["fields"], **{f"_{name}": value for name, value in saved["book"].items()}}
    if path.parent.name == "training-job" and saved["book"]["tuning_job_id"] is None:
        flat["_standalone"] = True
    path.write_text(json.dumps(flat))


def test_a_restarted_backend_answers_from_its_files_alike(home: Path) -> None:
    with LocalSageMaker(home, endpoint_delay_seconds=0) as backend:
        client = make_client(backend.endpoint_url)
        make_resources(client)
        before = answers(client)
    files = sorted((home / "state").glob("*/*.json"))
    assert {path.parent.name for path in files} == {
        "hyper-parameter-tuning-job",
        "training-job",
        "model",
        "endpoint-config",
        "endpoint",
    }
    for path in files:
        saved = json.loads(path.read_text())
        assert saved.keys() == {"fields", "book"}
        assert not [key for key in saved["fields"] if key.startswith("_")], path
    with LocalSageMaker(home, endpoint_delay_seconds=0) as restarted:
        assert answers(make_client(restarted.endpoint_url)) == before


def test_a_home_of_an_earlier_version_is_read_and_answered_alike(home: Path) -> None:
    with LocalSageMaker(home, endpoint_delay_seconds=0) as backend:
        client = make_client(backend.endpoint_url)
        make_resources(client)
        before = answers(client)
    for path in (home / "state").glob("*/*.json"):
        as_written_before(path)
    with LocalSageMaker(home, endpoint_delay_seconds=0) as restarted:
        client = make_client(restarted.endpoint_url)
        assert answers(client) == before
        model_arn = client.describe_model(ModelName="m")["ModelArn"]
        client.add_tags(ResourceArn=model_arn, Tags=[{"Key": "stage", "Value": "test"}])
    # a change writes the resource anew, in the current form
    rewritten = json.loads((home / "state" / "model" / "m.json").read_text())
    assert rewritten["book"]["tags"] == [*TAGS, {"Key": "stage", "Value": "test"}]
    assert "_tags" not in rewritten["fields"]

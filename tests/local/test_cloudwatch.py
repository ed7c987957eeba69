"""CloudWatch Logs and metrics of training jobs on the local backend's endpoint, read with real
boto3 ``logs`` and ``cloudwatch`` clients and with the amazon provider's SageMaker hook and sensor."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import REGION, training_jobs, wait_for

GROUP = "/aws/sagemaker/TrainingJobs"


def aws_client(service: str, endpoint_url: str, session: Any = None) -> Any:
    return (session or boto3.Session()).client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def log_lines(home: Path, job: str) -> list[str]:
    """The job's output as its script wrote it (CloudWatch keeps no empty events)."""
    text = (home / "training" / job / "training.log").read_text()
    return [line for line in text.splitlines() if line]


@pytest.fixture
def finished(client: Any, create: Any) -> list[str]:
    """The training jobs of a completed tuning job, 5 epochs each."""
    create("Logged", max_jobs=2, parallel=2, static={"epochs": "5"})
    wait_for(client, "Logged")
    return sorted(summary["TrainingJobName"] for summary in training_jobs(client, "Logged"))


def read_forward(logs: Any, stream: str, limit: int) -> list[dict[str, Any]]:
    """Every event, following nextForwardToken until it comes back unchanged."""
    events: list[dict[str, Any]] = []
    answer = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True, limit=limit)
    for _ in range(100):
        events += answer["events"]
        token = answer["nextForwardToken"]
        answer = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken=token, limit=limit)
        if answer["nextForwardToken"] == token:
            assert answer["events"] == []
            return events
    raise AssertionError("nextForwardToken never settled")


def test_streams_are_named_as_sagemaker_names_them(backend: LocalSageMaker, finished: list[str]) -> None:
    logs = aws_client("logs", backend.endpoint_url)
    (group,) = logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]
    assert group["logGroupName"] == GROUP
    streams = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [stream["logStreamName"].split("/")[0] for stream in streams] == finished
    for name in finished:
        (stream,) = logs.describe_log_streams(
            logGroupName=GROUP, logStreamNamePrefix=f"{name}/", orderBy="LogStreamName", limit=1
        )["logStreams"]
        assert re.fullmatch(rf"{name}/algo-1-\d{{10}}", stream["logStreamName"])
        assert stream["firstEventTimestamp"] <= stream["lastEventTimestamp"]
    first = logs.describe_log_streams(logGroupName=GROUP, limit=1)
    second = logs.describe_log_streams(logGroupName=GROUP, limit=1, nextToken=first["nextToken"])
    assert "nextToken" not in second
    assert [first["logStreams"][0]["logStreamName"], second["logStreams"][0]["logStreamName"]] == [
        stream["logStreamName"] for stream in streams
    ]


def test_events_are_the_jobs_log_lines_and_tokens_terminate(
    backend: LocalSageMaker, client: Any, finished: list[str]
) -> None:
    logs = aws_client("logs", backend.endpoint_url)
    for name in finished:
        (stream,) = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=f"{name}/")[
            "logStreams"
        ]
        stream_name = stream["logStreamName"]
        lines = log_lines(backend.home, name)
        assert sum("loss=" in line for line in lines) == 5
        events = read_forward(logs, stream_name, limit=2)
        assert [event["message"] for event in events] == lines
        stamps = [event["timestamp"] for event in events]
        described = client.describe_training_job(TrainingJobName=name)
        assert stamps == sorted(stamps)
        assert described["CreationTime"].timestamp() * 1000 - 1000 <= stamps[0]
        assert stamps[-1] <= described["TrainingEndTime"].timestamp() * 1000 + 1000
        # without a token and startFromHead, the newest events; backward tokens reach the start
        newest = logs.get_log_events(logGroupName=GROUP, logStreamName=stream_name, limit=2)
        assert [event["message"] for event in newest["events"]] == lines[-2:]
        backward: list[str] = [event["message"] for event in newest["events"]]
        token = newest["nextBackwardToken"]
        for _ in range(100):
            page = logs.get_log_events(
                logGroupName=GROUP, logStreamName=stream_name, nextToken=token, limit=2
            )
            if page["nextBackwardToken"] == token:
                break
            backward = [event["message"] for event in page["events"]] + backward
            token = page["nextBackwardToken"]
        assert backward == lines
        # a time window: startTime included, endTime excluded
        window = logs.get_log_events(
            logGroupName=GROUP,
            logStreamName=stream_name,
            startFromHead=True,
            startTime=stamps[-1],
            endTime=stamps[-1] + 1,
        )
        assert [event["message"] for event in window["events"]] == [
            event["message"] for event in events if event["timestamp"] == stamps[-1]
        ]


def test_filter_log_events_with_patterns(backend: LocalSageMaker, finished: list[str]) -> None:
    logs = aws_client("logs", backend.endpoint_url)
    every = {name: log_lines(backend.home, name) for name in finished}

    def found(**request: Any) -> list[tuple[str, str]]:
        paginator = logs.get_paginator("filter_log_events")
        return [
            (event["logStreamName"].split("/")[0], event["message"])
            for page in paginator.paginate(logGroupName=GROUP, limit=3, **request)
            for event in page["events"]
        ]

    def expected(keep: Any, names: list[str] = finished) -> list[tuple[str, str]]:
        return sorted((name, line) for name in names for line in every[name] if keep(line))

    assert sorted(found(filterPattern="loss")) == expected(lambda line: "loss" in line)
    assert len(found(filterPattern="loss")) == 10
    assert sorted(found(filterPattern='"epoch=4 loss"')) == expected(lambda line: "epoch=4 loss" in line)
    assert sorted(found(filterPattern="?epoch=0 ?epoch=1")) == expected(
        lambda line: "epoch=0" in line or "epoch=1" in line
    )
    assert sorted(found(filterPattern="loss -epoch=0")) == expected(
        lambda line: "loss" in line and "epoch=0" not in line
    )
    assert sorted(found(filterPattern=r"%epoch=[34]%")) == expected(
        lambda line: re.search("epoch=[34]", line)
    )
    one = finished[0]
    assert sorted(found(filterPattern="loss", logStreamNamePrefix=f"{one}/")) == expected(
        lambda line: "loss" in line, [one]
    )
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName=GROUP, filterPattern="{ $.loss > 1 }")


def test_unknown_group_or_stream_is_resource_not_found(backend: LocalSageMaker, finished: list[str]) -> None:
    logs = aws_client("logs", backend.endpoint_url)
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.describe_log_streams(logGroupName="/aws/sagemaker/Endpoints/nothing")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName="/aws/lambda/nothing", logStreamName=f"{finished[0]}/algo-1-1")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName=GROUP, logStreamName=f"{finished[0]}/algo-1-1")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.filter_log_events(logGroupName="/nothing")


# --- metrics -----------------------------------------------------------------------------------


def cloudwatch_speaking(protocol: str, endpoint_url: str, data_path: Path) -> Any:
    """A real cloudwatch client whose service model offers only ``protocol`` (botocore picks json
    when offered; clients whose botocore predates it send CBOR or query), via botocore's data path."""
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"].update(protocol=protocol, protocols=[protocol])
    folder = data_path / protocol / "cloudwatch" / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.set_config_variable("data_path", str(data_path / protocol))
    client = aws_client("cloudwatch", endpoint_url, boto3.Session(botocore_session=session))
    assert client.meta.service_model.resolved_protocol == protocol
    return client


@pytest.mark.parametrize("protocol", ["default", "smithy-rpc-v2-cbor", "json", "query"])
def test_metric_statistics_are_the_parsed_objective_values(
    backend: LocalSageMaker, client: Any, finished: list[str], protocol: str, tmp_path: Path
) -> None:
    if protocol == "default":
        cloudwatch = aws_client("cloudwatch", backend.endpoint_url)
    else:
        cloudwatch = cloudwatch_speaking(protocol, backend.endpoint_url, tmp_path / "models")
    for name in finished:
        described = client.describe_training_job(TrainingJobName=name)
        losses = [float(line.split("loss=")[1]) for line in log_lines(backend.home, name) if "loss=" in line]
        # the request TrainingJobAnalytics of the SageMaker SDK sends
        request = {
            "Namespace": GROUP,
            "MetricName": "loss",
            "StartTime": described["TrainingStartTime"],
            "EndTime": described["TrainingEndTime"] + timedelta(minutes=1),
            "Period": 60,
        }
        for dimension in (
            {"Name": "TrainingJobName", "Value": name},
            {"Name": "Host", "Value": f"{name}/algo-1"},
        ):
            answer = cloudwatch.get_metric_statistics(
                **request, Dimensions=[dimension], Statistics=["Average", "SampleCount", "Minimum", "Maximum"]
            )
            points = answer["Datapoints"]
            assert answer["Label"] == "loss"
            assert sum(point["SampleCount"] for point in points) == len(losses) == 5
            total = sum(point["Average"] * point["SampleCount"] for point in points)
            assert total / len(losses) == pytest.approx(sum(losses) / len(losses))
            assert min(point["Minimum"] for point in points) == pytest.approx(min(losses))
            assert max(point["Maximum"] for point in points) == pytest.approx(max(losses))
            final = {metric["MetricName"]: metric["Value"] for metric in described["FinalMetricDataList"]}
            assert final["loss"] == pytest.approx(losses[-1])
        other = cloudwatch.get_metric_statistics(
            **request, Dimensions=[{"Name": "TrainingJobName", "Value": "nothing"}], Statistics=["Average"]
        )
        assert other["Datapoints"] == []
    with pytest.raises(cloudwatch.exceptions.InvalidParameterValueException):
        cloudwatch.get_metric_statistics(**{**request, "Period": 7}, Statistics=["Average"])
    with pytest.raises(cloudwatch.exceptions.InvalidParameterCombinationException):
        cloudwatch.get_metric_statistics(**request, Statistics=["Average"], ExtendedStatistics=["p90"])


# --- the amazon provider ------------------------------------------------------------------------


def hook_messages(output: str) -> list[str]:
    """What the amazon provider's SageMakerHook logged, from Airflow's (structlog) console lines."""
    return re.findall(r"\[info\s*\] (.*?)\s+\[airflow\.task\.hooks\.\S*SageMakerHook\]", output)


def test_amazon_provider_training_sensor_prints_the_jobs_log(
    backend: LocalSageMaker, finished: list[str], aws_conn_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.providers.amazon.aws.sensors.sagemaker import SageMakerTrainingSensor

    aws_conn_env(backend.endpoint_url)
    name = finished[0]
    sensor = SageMakerTrainingSensor(task_id="watch", job_name=name, print_log=True)
    assert sensor.poke({}) is True  # type: ignore[arg-type]
    assert hook_messages(capsys.readouterr().out) == log_lines(backend.home, name)


def test_amazon_provider_tails_a_running_jobs_log_once_per_line(
    backend: LocalSageMaker,
    client: Any,
    create: Any,
    aws_conn_env: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from airflow.providers.amazon.aws.hooks.sagemaker import LogState, SageMakerHook

    # held after its first epoch until the hook has read a line while the job ran: the log is
    # read while the job writes it, however slow the machine
    release = tmp_path / "release"
    create("Tailed", max_jobs=1, parallel=1, static={"epochs": "8", "sleep": "0.1", "hold": str(release)})
    deadline = time.monotonic() + 60
    while not training_jobs(client, "Tailed"):
        assert time.monotonic() < deadline, "no training job started"
        time.sleep(0.1)
    name = training_jobs(client, "Tailed")[0]["TrainingJobName"]
    aws_conn_env(backend.endpoint_url)
    hook = SageMakerHook(aws_conn_id="aws_default")
    positions: dict[str, Any] = {}
    state, description = LogState.TAILING, hook.describe_training_job(name)
    deadline = time.monotonic() + 120
    output = ""
    losses_seen_while_running: list[int] = []
    while state != LogState.COMPLETE:
        assert time.monotonic() < deadline, f"still {state} after 120 s"
        # -inf: describe the job on every round instead of every 30 s
        state, description, _ = hook.describe_training_job_with_log(
            name, positions, [], 1, state, description, float("-inf")
        )
        output += capsys.readouterr().out
        if description["TrainingJobStatus"] == "InProgress":
            losses_seen_while_running.append(output.count("loss="))
            if output.count("loss="):
                release.touch()
        time.sleep(0.2)
    lines = log_lines(backend.home, name)
    # every line once, in order (the hook logs status changes in between)
    printed = [message for message in hook_messages(output) if message in lines]
    assert printed == lines
    # the log was read while the job wrote it: some lines before the job ended, not all of them
    assert any(0 < seen < 8 for seen in losses_seen_while_running), losses_seen_while_running
    assert sum("loss=" in line for line in printed) == 8
    wait_for(client, "Tailed")

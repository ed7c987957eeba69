"""The backend under an IAM policy: AccessDeniedException as AWS answers it, the request log, and the
trigger's degradation when ListHyperParameterTuningJobs is not allowed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_hpt.hooks.tuning import is_transient
from airflow_hpt.local import LocalSageMaker, Policy, PolicyError, RequestLog
from tests.local.conftest import make_client, quadratic_request, wait_for

MINIMAL = Path(__file__).resolve().parents[2] / "docs" / "iam-minimal.json"


def _without(action: str) -> dict[str, Any]:
    """docs/iam-minimal.json less one action."""
    document = json.loads(MINIMAL.read_text())
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != action] or ["sagemaker:NoSuchAction"]
    return document


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({}, "Statement"),
        ({"Statement": [{"Effect": "Permit", "Action": "sagemaker:*"}]}, "Statement[0].Effect"),
        ({"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}, "Statement[0].Action"),
        ({"Statement": [{"Effect": "Allow", "Action": "x", "Resource": "*"}, "y"]}, "Statement[1]"),
        ({"Statement": [{"Effect": "Allow", "NotAction": "sagemaker:Stop*"}]}, "Statement[0].NotAction"),
        # IAM requires a Resource in an identity policy
        ({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}, "Statement[0].Resource"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": []}]}, "Statement[0].Resource"),
        (
            {"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/*"}]},
            "Statement[0].NotResource",
        ),
        # a condition the backend cannot decide, on actions it checks ("*" and "s*:" may be s3:)
        (
            {
                "Statement": [
                    {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Action": ["iam:PassRole", "s*:Put*"],
                        "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ]
            },
            "Statement[1].Condition.Bool.aws:SecureTransport",
        ),
        (
            {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]},
            "Statement[0].Condition",
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sagemaker:Create*",
                        "Resource": "*",
                        "Condition": {"StringLike": {"sagemaker:InstanceTypes": "ml.m5.*"}},
                    }
                ]
            },
            "Statement[0].Condition.StringLike.sagemaker:InstanceTypes",
        ),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(document: dict[str, Any], named: str) -> None:
    with pytest.raises(PolicyError) as refused:
        Policy(document)
    assert str(refused.value).startswith(f"{named}: ")


def test_wildcards_and_an_explicit_deny() -> None:
    policy = Policy(
        {
            "Statement": [
                {"Effect": "Allow", "Action": ["sagemaker:Describe*", "sagemaker:List?ags"], "Resource": "*"},
                {"Effect": "Deny", "Action": "sagemaker:DescribeEndpoint", "Resource": "*"},
            ]
        }
    )
    assert policy.allows("sagemaker:DescribeHyperParameterTuningJob")
    assert policy.allows("SageMaker:describetrainingjob")  # IAM matches actions case-insensitively
    assert policy.allows("sagemaker:ListTags")
    assert not policy.allows("sagemaker:DescribeEndpoint")
    assert not policy.allows("sagemaker:CreateHyperParameterTuningJob")
    assert not policy.allows("s3:DescribeTrainingJob")


def test_denied_actions_answer_access_denied_and_every_call_is_logged(tmp_path: Path) -> None:
    policy = Policy({"Statement": [{"Effect": "Allow", "Action": "sagemaker:Describe*", "Resource": "*"}]})
    with LocalSageMaker(tmp_path / "sagemaker", policy=policy) as backend:
        client = make_client(backend.endpoint_url)
        with pytest.raises(ClientError) as denied:
            client.create_hyper_parameter_tuning_job(**quadratic_request("denied"))
        error = denied.value.response
        assert error["Error"]["Code"] == "AccessDeniedException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["Error"]["Message"] == (
            "User: arn:aws:iam::123456789012:user/testing is not authorized to perform: "
            "sagemaker:CreateHyperParameterTuningJob on resource: "
            "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/denied "
            "because no identity-based policy allows the sagemaker:CreateHyperParameterTuningJob action"
        )
        # not worth retrying: the hook and the trigger fail (or degrade) at once
        assert not is_transient(denied.value)
        # allowed: the call reaches the API, which has no such job
        with pytest.raises(ClientError, match="ResourceNotFound"):
            client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="denied")
        assert backend.requests.actions == {"sagemaker:DescribeHyperParameterTuningJob"}
        assert dict(backend.requests.denied) == {"sagemaker:CreateHyperParameterTuningJob": 1}
        lines = [line.split()[1:] for line in (backend.home / "requests.log").read_text().splitlines()]
        assert lines == [
            ["sagemaker:CreateHyperParameterTuningJob", "denied"],
            ["sagemaker:DescribeHyperParameterTuningJob", "allowed"],
        ]


def test_the_policy_file_is_read_by_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(_without("sagemaker:StopHyperParameterTuningJob")))
    with LocalSageMaker(tmp_path / "sagemaker", policy=path) as backend:
        client = make_client(backend.endpoint_url)
        with pytest.raises(
            ClientError, match=r"not authorized to perform: sagemaker:StopHyperParameterTuningJob"
        ):
            client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="any")


async def _first_event(trigger: Any) -> Any:
    events = trigger.run()
    try:
        return await anext(events)
    finally:
        await events.aclose()


def test_without_list_the_shared_poller_describes_each_job(
    tmp_path: Path, aws_conn_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_hpt.triggers.tuning import TuningJobTrigger

    policy = Policy(_without("sagemaker:ListHyperParameterTuningJobs"))
    with LocalSageMaker(tmp_path / "sagemaker", policy=policy) as backend:
        aws_conn_env(backend.endpoint_url)
        client = make_client(backend.endpoint_url)
        names = ["nolist-a", "nolist-b"]
        for name in names:
            client.create_hyper_parameter_tuning_job(**quadratic_request(name, max_jobs=2))

        async def wait_both() -> list[Any]:
            triggers = [
                TuningJobTrigger(
                    tuning_job_name=name,
                    aws_conn_id="aws_default",
                    region_name=None,
                    verify=None,
                    botocore_config=None,
                    check_interval=0.2,
                    deadline=None,
                    stop_on_kill=False,
                )
                for name in names
            ]
            return await asyncio.wait_for(asyncio.gather(*map(_first_event, triggers)), timeout=180)

        events = asyncio.run(wait_both())
        for name, event in zip(names, events, strict=True):
            assert event.payload == {"status": "ended", "tuning_job_name": name, "job_status": "Completed"}
            assert wait_for(client, name)["HyperParameterTuningJobStatus"] == "Completed"
        # two jobs watched: the poller tried List once, was refused, and described each job instead
        assert dict(backend.requests.denied) == {"sagemaker:ListHyperParameterTuningJobs": 1}
        assert backend.requests.calls["sagemaker:DescribeHyperParameterTuningJob"] >= 2


def test_the_request_log_rotates_keeping_the_newest_calls(tmp_path: Path) -> None:
    path = tmp_path / "requests.log"
    log = RequestLog(path, max_bytes=1000, backups=1)
    try:
        for index in range(500):  # about 20 kB of lines: 20 times the cap
            log.record(f"sagemaker:Action{index:03d}", allowed=index % 2 == 0)
    finally:
        log.close()
    assert sorted(file.name for file in tmp_path.iterdir()) == ["requests.log", "requests.log.1"]
    assert all(file.stat().st_size <= 1000 for file in tmp_path.iterdir())
    kept = [
        line.split()
        for line in (path.with_name("requests.log.1").read_text() + path.read_text()).splitlines()
    ]
    # the newest calls, in order, each line in the usual format
    assert [action for _, action, _ in kept] == [
        f"sagemaker:Action{index:03d}" for index in range(500 - len(kept), 500)
    ]
    assert len(kept) > 20
    assert all(float(stamp) > 0 and verdict in ("allowed", "denied") for stamp, _, verdict in kept)
    assert kept[-1][2] == "denied" and kept[-2][2] == "allowed"  # 499 was denied, 498 allowed
    # the counts still cover every call, rotated or not
    assert sum(log.calls.values()) + sum(log.denied.values()) == 500


GUARDRAILS = {
    "Statement": [
        # only ml.m5 instances; calls that name no instance type (Describe, tags) pass: ForAllValues
        {
            "Effect": "Allow",
            "Action": "sagemaker:*",
            "Resource": "*",
            "Condition": {"ForAllValues:StringLike": {"sagemaker:InstanceTypes": "ml.m5.*"}},
        },
        # every tuning job says which team pays for it
        {
            "Effect": "Deny",
            "Action": "sagemaker:CreateHyperParameterTuningJob",
            "Resource": "*",
            "Condition": {"Null": {"aws:RequestTag/team": "true"}},
        },
        # what is tagged env=prod cannot be stopped
        {
            "Effect": "Deny",
            "Action": "sagemaker:Stop*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}},
        },
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:iam::*:role/SageMakerRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
    ]
}


def test_conditions_on_the_request_and_on_the_resource_tags_decide(tmp_path: Path) -> None:
    with LocalSageMaker(tmp_path / "sagemaker", policy=Policy(GUARDRAILS)) as backend:
        client = make_client(backend.endpoint_url)
        tagged = [{"Key": "team", "Value": "ml"}, {"Key": "env", "Value": "prod"}]

        large = quadratic_request("large", max_jobs=1, parallel=1)
        large["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] = "ml.c5.xlarge"
        with pytest.raises(ClientError) as refused:
            client.create_hyper_parameter_tuning_job(**large, Tags=tagged)
        assert "because no identity-based policy allows" in refused.value.response["Error"]["Message"]

        with pytest.raises(ClientError) as refused:
            client.create_hyper_parameter_tuning_job(**quadratic_request("untagged", max_jobs=1, parallel=1))
        assert "with an explicit deny" in refused.value.response["Error"]["Message"]

        arn = client.create_hyper_parameter_tuning_job(
            # held: it is still running when it is stopped, however slow the machine
            **quadratic_request("guarded", max_jobs=4, parallel=1, static={"hold": str(tmp_path / "never")}),
            Tags=tagged,
        )["HyperParameterTuningJobArn"]
        with pytest.raises(ClientError) as refused:
            client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="guarded")
        assert refused.value.response["Error"]["Message"].endswith(
            f"sagemaker:StopHyperParameterTuningJob on resource: {arn} with an explicit deny in an "
            "identity-based policy"
        )
        # the resource's tags are read at each call: untagged, it may be stopped
        client.delete_tags(ResourceArn=arn, TagKeys=["env"])
        client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="guarded")
        assert wait_for(client, "guarded")["HyperParameterTuningJobStatus"] == "Stopped"
        assert dict(backend.requests.denied) == {
            "sagemaker:CreateHyperParameterTuningJob": 2,
            "sagemaker:StopHyperParameterTuningJob": 1,
        }

"""Security of the local backend: SigV4 on every request, loopback by default, no path out of the home.

Real clients (boto3, aiobotocore, the CLI as a process) and raw HTTP for what clients never send.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_hpt.cli import build_parser
from airflow_hpt.local import Faults
from airflow_hpt.local.server import LocalSageMaker, is_loopback
from tests.local.conftest import REGION, SCRIPTS, make_client, quadratic_request, signed_headers, wait_for

TARGET = "SageMaker.ListHyperParameterTuningJobs"
# a distinctive pair, to search logs and files for
ACCESS_KEY_ID = "AKIDLOCALSECURITY"
SECRET = "s3cr3t-Zq8vXw2-distinctive"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def raw_call(
    endpoint_url: str, headers: dict[str, str], body: bytes = b"{}"
) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(endpoint_url + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def base_headers(target: str = TARGET) -> dict[str, str]:
    return {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}


def client_with(endpoint_url: str, access_key_id: str, secret: str) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def refused(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


@pytest.fixture
def keyed(home: Path) -> Iterator[LocalSageMaker]:
    """A backend with non-default credentials."""
    with LocalSageMaker(
        home, access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET, endpoint_delay_seconds=0.1
    ) as started:
        yield started


# --- signatures ----------------------------------------------------------------------------------


def test_unsigned_request_is_refused_before_anything_else(home: Path) -> None:
    # every call would be throttled: authentication comes first, so an outsider sees only the 403
    with LocalSageMaker(home, faults=Faults({"*": 1.0})) as backend:
        status, headers, body = raw_call(backend.endpoint_url, base_headers())
    assert status == 403
    assert body["__type"] == "MissingAuthenticationTokenException"
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_right_credentials_are_served(backend: LocalSageMaker) -> None:
    url = backend.endpoint_url
    status, _, body = raw_call(url, signed_headers(url + "/", b"{}", base_headers()))
    assert status == 200 and body == {"HyperParameterTuningJobSummaries": []}
    response = make_client(url).list_hyper_parameter_tuning_jobs()
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_wrong_secret_and_unknown_access_key_are_refused(backend: LocalSageMaker) -> None:
    url = backend.endpoint_url
    code, status, message = refused(client_with(url, "testing", "not-the-secret").list_training_jobs)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "signature we calculated does not match" in message
    code, status, message = refused(client_with(url, "AKIDUNKNOWN", "testing").list_training_jobs)
    assert (code, status) == ("UnrecognizedClientException", 403)
    assert message == "The security token included in the request is invalid."


@pytest.mark.parametrize(("skew", "wording"), [(-20, "Signature expired"), (20, "Signature not yet current")])
def test_stale_or_future_date_is_refused(
    backend: LocalSageMaker, monkeypatch: pytest.MonkeyPatch, skew: int, wording: str
) -> None:
    signed_at = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=skew)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: signed_at)
    code, status, message = refused(make_client(backend.endpoint_url).list_training_jobs)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith(wording)


def test_small_clock_skew_is_accepted(backend: LocalSageMaker, monkeypatch: pytest.MonkeyPatch) -> None:
    signed_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: signed_at)
    assert make_client(backend.endpoint_url).list_training_jobs()["TrainingJobSummaries"] == []


def test_tampered_requests_are_refused(backend: LocalSageMaker) -> None:
    url = backend.endpoint_url
    headers = signed_headers(url + "/", b"{}", base_headers())
    # a signed request replayed with another body or another operation
    assert raw_call(url, headers, b'{"MaxResults": 1}')[2]["__type"] == "InvalidSignatureException"
    other_target = {**headers, "X-Amz-Target": "SageMaker.ListTrainingJobs"}
    assert raw_call(url, other_target)[2]["__type"] == "InvalidSignatureException"
    # a body hash that is not the body's (botocore signs this header's value in place of the body)
    status, _, body = raw_call(url, {**headers, "X-Amz-Content-SHA256": "0" * 64})
    assert (status, body["__type"]) == (403, "InvalidSignatureException")
    # scoped to a service the backend does not serve (s3 is served: tests/local/test_s3_api.py)
    wrong_scope = {**headers, "Authorization": headers["Authorization"].replace("/sagemaker/", "/iam/")}
    status, _, body = raw_call(url, wrong_scope)
    assert (status, body["__type"]) == (403, "InvalidSignatureException")
    assert "scoped to correct service" in body["message"]
    # not SigV4 at all, or without the parts it needs
    for authorization in ("Basic dGVzdGluZzp0ZXN0aW5n", "AWS4-HMAC-SHA256 Credential=testing/20260101"):
        status, _, body = raw_call(url, {**headers, "Authorization": authorization})
        assert (status, body["__type"]) == (403, "IncompleteSignatureException")
    unsigned_date = headers["Authorization"].replace(";x-amz-date", "").replace("x-amz-date;", "")
    assert (
        raw_call(url, {**headers, "Authorization": unsigned_date})[2]["__type"]
        == "IncompleteSignatureException"
    )


def test_non_default_credentials_end_to_end(keyed: LocalSageMaker) -> None:
    from aiobotocore.session import get_session

    assert (keyed.access_key_id, keyed.secret_access_key) == (ACCESS_KEY_ID, SECRET)
    client = client_with(keyed.endpoint_url, ACCESS_KEY_ID, SECRET)
    client.create_hyper_parameter_tuning_job(**quadratic_request("Keyed", max_jobs=1, parallel=1))
    assert wait_for(client, "Keyed")["HyperParameterTuningJobStatus"] == "Completed"
    # the test credentials every other test uses are not this backend's
    assert refused(make_client(keyed.endpoint_url).list_training_jobs)[0] == "UnrecognizedClientException"

    async def describe() -> str:
        async with get_session().create_client(
            "sagemaker",
            endpoint_url=keyed.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET,
        ) as async_client:
            job = await async_client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="Keyed")
            return str(job["HyperParameterTuningJobStatus"])

    assert asyncio.run(describe()) == "Completed"


def test_secret_is_never_logged_or_stored(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with LocalSageMaker(home, access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET) as backend:
        client = client_with(backend.endpoint_url, ACCESS_KEY_ID, SECRET)
        client.create_hyper_parameter_tuning_job(**quadratic_request("Quiet", max_jobs=1, parallel=1))
        wait_for(client, "Quiet")
        refused(client_with(backend.endpoint_url, ACCESS_KEY_ID, "wrong").list_training_jobs)
        assert SECRET not in repr(backend._verifier)
    # botocore logs its own signing at DEBUG, but never the secret either
    assert SECRET not in caplog.text
    assert not [path for path in home.rglob("*") if path.is_file() and SECRET.encode() in path.read_bytes()]


# --- loopback --------------------------------------------------------------------------------------


def test_loopback_detection() -> None:
    assert all(is_loopback(host) for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "", "192.0.2.1"))


def test_binding_beyond_loopback_warns(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    with LocalSageMaker(home) as backend:
        pass
    assert "not on loopback" not in caplog.text
    with LocalSageMaker(home, host="0.0.0.0") as backend:
        assert make_client(backend.endpoint_url).list_training_jobs()["TrainingJobSummaries"] == []
    assert "listens on '0.0.0.0', not on loopback" in caplog.text


# --- paths -----------------------------------------------------------------------------------------

DEFINITION = "TrainingJobDefinition"
STATICS = f"{DEFINITION}.StaticHyperParameters"
CHANNEL = f"{DEFINITION}.InputDataConfig[0].DataSource.S3DataSource.S3Uri"


def with_channel(uri: str) -> Callable[[dict[str, Any]], None]:
    def change(request: dict[str, Any]) -> None:
        request[DEFINITION]["InputDataConfig"] = [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
        ]

    return change


def with_static(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(request: dict[str, Any]) -> None:
        request[DEFINITION]["StaticHyperParameters"][name] = value

    return change


def with_output(uri: str) -> Callable[[dict[str, Any]], None]:
    def change(request: dict[str, Any]) -> None:
        request[DEFINITION]["OutputDataConfig"]["S3OutputPath"] = uri

    return change


def as_multi_algorithm(request: dict[str, Any]) -> None:
    definition = request.pop(DEFINITION)
    definition["DefinitionName"] = "first"
    definition["TuningObjective"] = request["HyperParameterTuningJobConfig"].pop(
        "HyperParameterTuningJobObjective"
    )
    definition["HyperParameterRanges"] = request["HyperParameterTuningJobConfig"].pop("ParameterRanges")
    second = copy.deepcopy(definition)
    second["DefinitionName"] = "second"
    second["OutputDataConfig"]["S3OutputPath"] = "s3://models/../../escaped"
    request["TrainingJobDefinitions"] = [definition, second]


ESCAPES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "output-dotdot": (with_output("s3://models/../../x"), f"{DEFINITION}.OutputDataConfig.S3OutputPath"),
    "output-absolute-key": (with_output("s3://models//etc/x"), f"{DEFINITION}.OutputDataConfig.S3OutputPath"),
    "channel-dotdot": (with_channel("s3://data/../../../etc"), CHANNEL),
    "channel-https": (with_channel("https://example.com/data"), CHANNEL),
    "submit-s3-dotdot": (with_static("sagemaker_submit_directory", "s3://code/../../x"), STATICS),
    "submit-file-dotdot": (
        with_static("sagemaker_submit_directory", SCRIPTS.as_uri() + "/../../../.."),
        f"{STATICS}.sagemaker_submit_directory",
    ),
    "submit-path-dotdot": (
        with_static("sagemaker_submit_directory", f"{SCRIPTS}/../scripts"),
        f"{STATICS}.sagemaker_submit_directory",
    ),
    "submit-json-encoded": (
        with_static("sagemaker_submit_directory", json.dumps("file:///tmp/../etc")),
        f"{STATICS}.sagemaker_submit_directory",
    ),
    "submit-relative": (
        with_static("sagemaker_submit_directory", "tests/local/scripts"),
        f"{STATICS}.sagemaker_submit_directory",
    ),
    "submit-remote-host": (
        with_static("sagemaker_submit_directory", "file://elsewhere/code"),
        f"{STATICS}.sagemaker_submit_directory",
    ),
    "program-dotdot": (with_static("sagemaker_program", "../conftest.py"), f"{STATICS}.sagemaker_program"),
    "program-absolute": (with_static("sagemaker_program", "/etc/passwd"), f"{STATICS}.sagemaker_program"),
    "multi-algorithm": (as_multi_algorithm, "TrainingJobDefinitions[1].OutputDataConfig.S3OutputPath"),
}


@pytest.mark.parametrize("case", ESCAPES)
def test_paths_escaping_the_home_are_refused_at_create(backend: LocalSageMaker, case: str) -> None:
    change, field = ESCAPES[case]
    request = quadratic_request("Escape")
    change(request)
    client = make_client(backend.endpoint_url)
    code, status, message = refused(lambda: client.create_hyper_parameter_tuning_job(**request))
    assert (code, status) == ("ValidationException", 400)
    assert field in message
    assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
    assert client.list_training_jobs()["TrainingJobSummaries"] == []
    assert not (backend.home / "training").exists() or not any((backend.home / "training").iterdir())


def test_absolute_file_submit_directory_outside_the_home_is_allowed(backend: LocalSageMaker) -> None:
    """A local-development feature, kept on purpose: the code under development lives in its project."""
    client = make_client(backend.endpoint_url)
    for name, submit in (("FileUri", SCRIPTS.as_uri()), ("BarePath", str(SCRIPTS))):
        request = quadratic_request(
            name, max_jobs=1, parallel=1, static={"sagemaker_submit_directory": submit}
        )
        client.create_hyper_parameter_tuning_job(**request)
        assert wait_for(client, name)["HyperParameterTuningJobStatus"] == "Completed"


@pytest.mark.parametrize(
    ("container", "field"),
    [
        (
            {"PrimaryContainer": {"Image": "i", "ModelDataUrl": "s3://models/../../x.tar.gz"}},
            "PrimaryContainer",
        ),
        ({"PrimaryContainer": {"Image": "i", "ModelDataUrl": "file:///etc/passwd"}}, "PrimaryContainer"),
        (
            {"Containers": [{"Image": "i"}, {"Image": "i", "ModelDataUrl": "s3://m/a/../../../y"}]},
            "Containers[1]",
        ),
    ],
)
def test_model_data_escaping_the_store_is_refused(
    backend: LocalSageMaker, container: dict[str, Any], field: str
) -> None:
    client = make_client(backend.endpoint_url)
    code, _, message = refused(
        lambda: client.create_model(ModelName="escape", ExecutionRoleArn=ROLE, **container)
    )
    assert code == "ValidationException" and f"{field}.ModelDataUrl" in message
    assert refused(lambda: client.describe_model(ModelName="escape"))[0] == "ValidationException"


@pytest.mark.parametrize("operation", ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"])
def test_resource_names_cannot_be_paths(backend: LocalSageMaker, operation: str) -> None:
    """Names become file names in the store; botocore does not check their pattern, raw HTTP neither."""
    member = {"CreateModel": "ModelName", "CreateEndpointConfig": "EndpointConfigName"}.get(
        operation, "EndpointName"
    )
    name = "../../../../escaped"
    body: dict[str, Any] = {member: name}
    if operation == "CreateModel":
        body.update(ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "i"})
    if operation == "CreateEndpointConfig":
        body["ProductionVariants"] = []
    if operation == "CreateEndpoint":
        body["EndpointConfigName"] = "cfg"
        client = make_client(backend.endpoint_url)
        client.create_model(ModelName="model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "i"})
        variant = {
            "VariantName": "v",
            "ModelName": "model",
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
        }
        client.create_endpoint_config(EndpointConfigName="cfg", ProductionVariants=[variant])
    data = json.dumps(body).encode()
    url = backend.endpoint_url
    headers = signed_headers(url + "/", data, base_headers(f"SageMaker.{operation}"))
    status, _, response = raw_call(url, headers, data)
    assert (status, response["__type"]) == (400, "ValidationException")
    assert f"{member}: must match pattern" in response["message"]
    assert not list(backend.home.parent.rglob("escaped*"))


# --- the command line ------------------------------------------------------------------------------


def start_cli(home: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "airflow_hpt.cli", "local-sagemaker", "--port", "0", "--home", str(home)]
    clean = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_HPT_LOCAL_")}
    return subprocess.Popen(
        [*command, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **(env or {})},
    )


def stop_cli(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.terminate()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    return stdout, stderr


def test_cli_generates_a_secret_and_prints_what_clients_need(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = start_cli(home)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("Local SageMaker listening on http://127.0.0.1:"), banner
        exports: dict[str, str] = {}
        while len(exports) < 5:
            line = process.stdout.readline()
            assert line, "the command ended before printing the client settings"
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").partition("=")
                exports[key] = shlex.split(value)[0]
        connection = json.loads(exports["AIRFLOW_CONN_AWS_DEFAULT"])
        secret = connection["password"]
        assert len(secret) >= 32 and secret == exports["AWS_SECRET_ACCESS_KEY"]
        assert connection["login"] == exports["AWS_ACCESS_KEY_ID"]
        endpoint_url = connection["extra"]["endpoint_url"]
        assert endpoint_url == exports["AWS_ENDPOINT_URL"] == banner.split()[4]
        # what an Airflow connection or a boto3 environment built from those lines does
        client = client_with(endpoint_url, connection["login"], secret)
        assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
        assert refused(make_client(endpoint_url).list_training_jobs)[0] == "InvalidSignatureException"
        # the exported variables alone point every service's client at the backend
        for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
            monkeypatch.delenv(name)
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        session = boto3.Session()
        assert session.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
        assert session.client("s3").list_buckets()["Buckets"] == []
        assert (
            session.client("logs").describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs")[
                "logStreams"
            ]
            == []
        )
    finally:
        _, stderr = stop_cli(process)
    assert secret not in stderr and "WARNING" not in stderr
    assert not [path for path in home.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def test_cli_takes_credentials_from_the_environment_and_warns_off_loopback(home: Path) -> None:
    env = {"AIRFLOW_HPT_LOCAL_ACCESS_KEY_ID": ACCESS_KEY_ID, "AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY": SECRET}
    process = start_cli(home, "--host", "0.0.0.0", env=env)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        port = banner.split()[4].rsplit(":", 1)[1]
        client = client_with(f"http://127.0.0.1:{port}", ACCESS_KEY_ID, SECRET)
        assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
    finally:
        stdout, stderr = stop_cli(process)
    assert "WARNING: the local SageMaker backend listens on '0.0.0.0', not on loopback" in stderr
    # a secret the operator chose is not echoed back
    assert SECRET not in stdout + stderr and "export" not in stdout


def test_cli_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_HPT_LOCAL_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY", "env-secret")
    args = build_parser().parse_args(["local-sagemaker"])
    assert (args.access_key_id, args.secret_access_key) == ("env-key", "env-secret")
    args = build_parser().parse_args(["local-sagemaker", "--access-key-id", "k", "--secret-access-key", "s"])
    assert (args.access_key_id, args.secret_access_key) == ("k", "s")
    monkeypatch.delenv("AIRFLOW_HPT_LOCAL_ACCESS_KEY_ID")
    monkeypatch.delenv("AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY")
    args = build_parser().parse_args(["local-sagemaker"])
    # no secret: the command generates one (see above); the key id is the documented default
    assert (args.access_key_id, args.secret_access_key) == ("testing", None)

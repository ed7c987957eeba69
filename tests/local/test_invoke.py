"""InvokeEndpoint on the local backend: real boto3 ``sagemaker-runtime`` clients, real model servers."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import joblib
import numpy as np
import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sklearn.datasets import load_digits

from airflow_hpt.local import LocalSageMaker
from airflow_hpt.local.sagemaker.runtime import summarize
from tests.local.conftest import REGION, SCRIPTS, TRAINING_DIR, backend_client, wait_for

DEADLINE_SECONDS = 120.0


def runtime_client(backend: LocalSageMaker) -> Any:
    return backend_client(
        backend,
        "sagemaker-runtime",
        Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=DEADLINE_SECONDS),
    )


def eventually(condition: Callable[[], Any], what: str, timeout: float = DEADLINE_SECONDS) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {timeout} s")
        time.sleep(0.05)


def write_model(backend: LocalSageMaker, uri: str, files: dict[str, bytes]) -> str:
    """Write a model.tar.gz holding ``files`` into the backend's store at ``uri``."""
    assert backend.s3 is not None
    path = backend.s3.path_for(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))
    return uri


def constant_model(backend: LocalSageMaker, answer: Any, name: str) -> str:
    """A model answering ``answer`` to every row, its code in the archive's code/inference.py."""
    code = (SCRIPTS / "serve_constant.py").read_bytes()
    files = {"model.json": json.dumps({"answer": answer}).encode(), "code/inference.py": code}
    return write_model(backend, f"s3://models/{name}/model.tar.gz", files)


def create_model(
    client: Any, name: str, model_data_url: str, environment: dict[str, str] | None = None
) -> None:
    container: dict[str, Any] = {"Image": "local/sklearn:latest", "ModelDataUrl": model_data_url}
    if environment:
        container["Environment"] = environment
    client.create_model(
        ModelName=name, PrimaryContainer=container, ExecutionRoleArn="arn:aws:iam::123456789012:role/Role"
    )


def deploy_config(
    client: Any, name: str, model_data_url: str, environment: dict[str, str] | None = None
) -> None:
    """Create a model and an endpoint configuration, both named ``name``."""
    create_model(client, name, model_data_url, environment)
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1}
    client.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])


def wait_endpoint(client: Any, name: str) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        endpoint: dict[str, Any] = client.describe_endpoint(EndpointName=name)
        return endpoint if endpoint["EndpointStatus"] not in ("Creating", "Updating") else None

    return eventually(settled, f"{name} settled")


def deploy(client: Any, name: str, model_data_url: str, environment: dict[str, str] | None = None) -> None:
    deploy_config(client, name, model_data_url, environment)
    client.create_endpoint(EndpointName=name, EndpointConfigName=name)
    assert wait_endpoint(client, name)["EndpointStatus"] == "InService"


def model_servers(endpoint: str) -> list[psutil.Process]:
    """The live model server processes of ``endpoint`` (children of this test process)."""
    servers = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
            running = child.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            continue
        if running and "airflow_hpt.local.hosting.serving" in command and f"/serving/{endpoint}/" in command:
            servers.append(child)
    return servers


def listening_port(process: psutil.Process) -> int:
    (port,) = {c.laddr.port for c in process.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
    return port


def refuses(port: int) -> bool:
    """Whether nothing listens on ``port`` any more: a killed server's socket is closed.

    Neither "its command line is gone" (it reads empty once the memory is freed, before the files
    are closed) nor "a zombie": a multithreaded process's leader is one as soon as its own thread
    has exited, while its other threads, still exiting, hold its files, so its socket still takes
    connections (and resets them a moment later); nor is it reapable yet, so the backend sees it alive.
    """
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        pass
    return False


def predictions(answer: dict[str, Any]) -> Any:
    return json.loads(answer["Body"].read())


@pytest.mark.slow  # about 10 s: a real training job, then an endpoint
def test_model_trained_by_a_real_job_answers_csv_and_json(backend: LocalSageMaker, client: Any) -> None:
    client.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="digits",
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {"CategoricalParameterRanges": [{"Name": "loss", "Values": ["log_loss"]}]},
        },
        TrainingJobDefinition={
            "StaticHyperParameters": {
                "sagemaker_program": "train_sklearn.py",
                "sagemaker_submit_directory": TRAINING_DIR.as_uri(),
                "epochs": "3",
            },
            "AlgorithmSpecification": {
                "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:latest",
                "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": "validation:accuracy", "Regex": "validation:accuracy=([0-9.]+)"}
                ],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": "s3://models/digits"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        },
    )
    job = wait_for(client, "digits", timeout=DEADLINE_SECONDS)
    assert job["HyperParameterTuningJobStatus"] == "Completed", job
    best = client.describe_training_job(TrainingJobName=job["BestTrainingJob"]["TrainingJobName"])
    artifact = best["ModelArtifacts"]["S3ModelArtifacts"]
    environment = {"SAGEMAKER_PROGRAM": "serve_sklearn.py", "SAGEMAKER_SUBMIT_DIRECTORY": SCRIPTS.as_uri()}
    deploy(client, "digits", artifact, environment)

    assert backend.s3 is not None
    with tarfile.open(backend.s3.path_for(artifact)) as archive:
        model_file = archive.extractfile("model.joblib")
        assert model_file is not None
        model = joblib.load(io.BytesIO(model_file.read()))
    features, labels = load_digits(return_X_y=True)
    rows, truth = features[-40:], labels[-40:]
    expected = model.predict(rows.astype(np.float32))
    runtime = runtime_client(backend)

    csv_body = "\n".join(",".join(str(value) for value in row) for row in rows)
    answer = runtime.invoke_endpoint(
        EndpointName="digits", Body=csv_body, ContentType="text/csv", Accept="text/csv"
    )
    assert answer["ContentType"] == "text/csv"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    from_csv = np.loadtxt(io.StringIO(answer["Body"].read().decode()))
    np.testing.assert_array_equal(from_csv, expected)
    assert (from_csv == truth).mean() > 0.8  # a real model: it recognises held-out digits

    answer = runtime.invoke_endpoint(
        EndpointName="digits", Body=json.dumps(rows.tolist()), ContentType="application/json"
    )
    assert answer["ContentType"] == "application/json"  # no Accept: the toolkit's default
    np.testing.assert_array_equal(predictions(answer), expected)


def test_custom_attributes_pass_through_both_ways(backend: LocalSageMaker, client: Any) -> None:
    deploy(client, "constant", constant_model(backend, "seven", "constant"))
    runtime = runtime_client(backend)
    answer = runtime.invoke_endpoint(
        EndpointName="constant",
        Body="[[1, 2], [3, 4]]",
        ContentType="application/json",
        CustomAttributes="trace-id=abc",
    )
    assert predictions(answer) == {"predictions": ["seven", "seven"]}
    assert answer["CustomAttributes"] == "echo:trace-id=abc"
    answer = runtime.invoke_endpoint(EndpointName="constant", Body="1,2\n3,4\n5,6", ContentType="text/csv")
    assert predictions(answer) == {"predictions": ["seven"] * 3}
    assert "CustomAttributes" not in answer


def test_target_variant_is_served_only_for_the_served_variant(backend: LocalSageMaker, client: Any) -> None:
    """A two-variant endpoint serves its first variant; a TargetVariant naming it is answered, one
    naming the other variant or none of them is refused rather than answered by the wrong model,
    and a TargetModel is refused as on an endpoint that is not multi-model."""
    for name, answer in (("champion", "seven"), ("challenger", "eight")):
        create_model(client, name, constant_model(backend, answer, name))
    variants = [
        {"VariantName": name, "ModelName": name, "InitialInstanceCount": 1, "InitialVariantWeight": 0.5}
        for name in ("champion", "challenger")
    ]
    client.create_endpoint_config(EndpointConfigName="ab", ProductionVariants=variants)
    client.create_endpoint(EndpointName="ab", EndpointConfigName="ab")
    assert wait_endpoint(client, "ab")["EndpointStatus"] == "InService"
    runtime = runtime_client(backend)
    request = {"EndpointName": "ab", "Body": "[[1, 2]]", "ContentType": "application/json"}

    answer = runtime.invoke_endpoint(TargetVariant="champion", **request)
    assert predictions(answer) == {"predictions": ["seven"]}
    assert answer["InvokedProductionVariant"] == "champion"
    refusals = {
        "challenger": "serves only the first production variant of an endpoint (champion of ab)",
        "nobody": "TargetVariant nobody is not a production variant of endpoint ab",
    }
    for target, message in refusals.items():
        with pytest.raises(runtime.exceptions.ValidationError, match=re.escape(message)):
            runtime.invoke_endpoint(TargetVariant=target, **request)
    with pytest.raises(runtime.exceptions.ValidationError, match="is not a multi-model endpoint"):
        runtime.invoke_endpoint(TargetModel="model.tar.gz", **request)


def test_failing_model_fn_is_a_model_error_with_the_traceback_summary(
    backend: LocalSageMaker, client: Any
) -> None:
    environment = {"SAGEMAKER_PROGRAM": "serve_broken.py", "SAGEMAKER_SUBMIT_DIRECTORY": SCRIPTS.as_uri()}
    deploy(client, "broken", write_model(backend, "s3://models/broken/model.tar.gz", {"x": b""}), environment)
    runtime = runtime_client(backend)
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(EndpointName="broken", Body="1,2", ContentType="text/csv")
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 500
    message = response["Error"]["Message"]
    assert "Received server error (500)" in message
    assert "ValueError: the model archive has no weights (serve_broken.py, line 5, in model_fn)" in message
    assert "Traceback" in response["OriginalMessage"]
    assert response["LogStreamArn"].endswith(":log-group:/aws/sagemaker/Endpoints/broken")


def test_unknown_or_failed_endpoint_is_a_validation_error(backend: LocalSageMaker, client: Any) -> None:
    runtime = runtime_client(backend)
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName="nowhere", Body="1", ContentType="text/csv")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Endpoint nowhere of account 123456789012 not found." in str(raised.value)

    assert backend.s3 is not None
    corrupt = backend.s3.path_for("s3://models/corrupt/model.tar.gz")
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"not a tar archive")
    deploy_config(client, "corrupt", "s3://models/corrupt/model.tar.gz")
    client.create_endpoint(EndpointName="corrupt", EndpointConfigName="corrupt")
    assert wait_endpoint(client, "corrupt")["EndpointStatus"] == "Failed"
    with pytest.raises(runtime.exceptions.ValidationError, match="is not in service: its status is Failed"):
        runtime.invoke_endpoint(EndpointName="corrupt", Body="1", ContentType="text/csv")


def test_failed_update_rolls_back_and_the_old_model_serves_on(backend: LocalSageMaker, client: Any) -> None:
    deploy(client, "steady", constant_model(backend, 1, "steady"))
    assert backend.s3 is not None
    corrupt = backend.s3.path_for("s3://models/steady-corrupt/model.tar.gz")
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"not a tar archive")
    deploy_config(client, "steady-corrupt", "s3://models/steady-corrupt/model.tar.gz")
    client.update_endpoint(EndpointName="steady", EndpointConfigName="steady-corrupt")
    settled = wait_endpoint(client, "steady")
    assert (settled["EndpointStatus"], settled["EndpointConfigName"]) == ("InService", "steady")
    assert "steady-corrupt" in settled["FailureReason"]
    body = {"EndpointName": "steady", "Body": "[[0]]", "ContentType": "application/json"}
    assert predictions(runtime_client(backend).invoke_endpoint(**body)) == {"predictions": [1]}


def test_killed_model_server_is_restarted_by_the_next_request(backend: LocalSageMaker, client: Any) -> None:
    deploy(client, "phoenix", constant_model(backend, 1, "phoenix"))
    runtime = runtime_client(backend)
    body = {"EndpointName": "phoenix", "Body": "[[0]]", "ContentType": "application/json"}
    assert predictions(runtime.invoke_endpoint(**body)) == {"predictions": [1]}
    (server,) = model_servers("phoenix")
    port = listening_port(server)
    server.send_signal(signal.SIGKILL)
    eventually(lambda: refuses(port), "dead")

    assert predictions(runtime.invoke_endpoint(**body)) == {"predictions": [1]}
    (restarted,) = model_servers("phoenix")
    assert restarted.pid != server.pid
    # the backend itself kept answering the control plane all along
    assert client.describe_endpoint(EndpointName="phoenix")["EndpointStatus"] == "InService"

    client.delete_endpoint(EndpointName="phoenix")
    assert not model_servers("phoenix")  # DeleteEndpoint stops the server


def test_request_that_kills_the_model_server_is_a_model_error_sent_once(
    backend: LocalSageMaker, client: Any, tmp_path: Path
) -> None:
    """Its connection is dropped with no answer; sent again, it would kill the restarted server too."""
    calls = tmp_path / "calls"
    environment = {
        "SAGEMAKER_PROGRAM": "serve_fatal.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": SCRIPTS.as_uri(),
        "CALLS_FILE": str(calls),
    }
    deploy(client, "fatal", write_model(backend, "s3://models/fatal/model.tar.gz", {"x": b""}), environment)
    runtime = runtime_client(backend)
    body = {"EndpointName": "fatal", "ContentType": "text/plain"}
    assert runtime.invoke_endpoint(Body="first", **body)["Body"].read() == b"alive"
    (server,) = model_servers("fatal")

    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(Body="die", **body)
    assert raised.value.response["OriginalStatusCode"] == 0
    assert "the model server gave no answer" in raised.value.response["Error"]["Message"]
    assert calls.read_text().splitlines() == ["first", "die"]

    assert runtime.invoke_endpoint(Body="after", **body)["Body"].read() == b"alive"
    assert calls.read_text().splitlines() == ["first", "die", "after"]
    (restarted,) = model_servers("fatal")
    assert restarted.pid != server.pid


def test_update_endpoint_swaps_the_model_without_a_failed_request(tmp_path: Path) -> None:
    with LocalSageMaker(tmp_path / "home", endpoint_delay_seconds=0.2) as backend:
        client = boto3.client(
            "sagemaker",
            endpoint_url=backend.endpoint_url,
            region_name=REGION,
            aws_access_key_id=backend.access_key_id,
            aws_secret_access_key=backend.secret_access_key,
        )
        deploy(client, "swap", constant_model(backend, "old", "old"))
        (old_server,) = model_servers("swap")
        deploy_config(client, "swap-new", constant_model(backend, "new", "new"))
        runtime = runtime_client(backend)
        answers: list[str] = []
        failures: list[BaseException] = []
        seen_new = threading.Event()
        stop = threading.Event()

        def invoke_in_a_loop() -> None:
            while not stop.is_set():
                try:
                    answer = runtime.invoke_endpoint(
                        EndpointName="swap", Body="[[0]]", ContentType="application/json"
                    )
                    answers.append(predictions(answer)["predictions"][0])
                except Exception as error:
                    failures.append(error)
                if answers and answers[-1] == "new":
                    seen_new.set()

        loop = threading.Thread(target=invoke_in_a_loop)
        loop.start()
        try:
            eventually(lambda: len(answers) >= 3 or failures, "answering before the update")
            client.update_endpoint(EndpointName="swap", EndpointConfigName="swap-new")
            assert wait_endpoint(client, "swap")["EndpointStatus"] == "InService"
            eventually(lambda: seen_new.is_set() or failures, "answering with the new model")
            count = len(answers)
            eventually(lambda: len(answers) >= count + 3 or failures, "answering after the swap")
        finally:
            stop.set()
            loop.join()
        assert failures == []
        switch = answers.index("new")
        assert switch >= 3 and set(answers[:switch]) == {"old"} and set(answers[switch:]) == {"new"}
        eventually(lambda: not old_server.is_running() or old_server.status() == psutil.STATUS_ZOMBIE,
                   "the old server stopped")  # fmt: skip
        assert len(model_servers("swap")) == 1
    assert not model_servers("swap")  # the backend's stop stops its model servers


def test_summary_of_a_traceback_names_the_exception_and_the_inference_code() -> None:
    body = "\n".join(
        [
            "Please provide a model_fn implementation.",
            "Traceback (most recent call last):",
            '  File "/venv/lib/python3.11/site-packages/sagemaker_inference/transformer.py", line 150, in transform',
            "    self.validate_and_initialize(model_dir=model_dir, context=context)",
            '  File "/home/serving/ep/1/code/inference.py", line 12, in model_fn',
            "    return load(path)",
            '  File "/venv/lib/python3.11/site-packages/joblib/numpy_pickle.py", line 650, in load',
            "    with open(filename, 'rb') as f:",
            "FileNotFoundError: [Errno 2] No such file or directory: 'model.joblib'",
        ]
    )
    assert summarize(body) == (
        "FileNotFoundError: [Errno 2] No such file or directory: 'model.joblib' (inference.py, line 12, in model_fn)"
    )
    multi_line = 'Traceback (most recent call last):\n  File "/x/sagemaker_inference/t.py", line 1, in f\n    g()\nNotImplementedError: \nPlease provide a model_fn implementation.\n'
    assert (
        summarize(multi_line)
        == "NotImplementedError: Please provide a model_fn implementation. (t.py, line 1, in f)"
    )
    assert summarize("Content type text/plain is not supported") == "Content type text/plain is not supported"

"""The amazon provider's `SageMakerTrainingOperator` (print_log, sync and deferrable) and
`SageMakerTransformOperator` in real DAGs against the local backend, pointed at it by the
`aws_default` connection's `endpoint_url` alone: train on digits uploaded over S3, then batch-score
held-out rows with the trained model; the .out objects must hold that model's real predictions."""

from __future__ import annotations

import io
import tarfile

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits

from airflow_hpt.local import LocalSageMaker
from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states, xcom
from tests.local.conftest import SCRIPTS, TRAINING_DIR, make_client, s3_client

pytestmark = pytest.mark.usefixtures("airflow_db")
BUCKET = "digits"
HELD_OUT = 40


@pytest.fixture
def held_out(backend: LocalSageMaker) -> tuple[np.ndarray, np.ndarray]:
    """Training rows (label first) under train/, held-out rows (features only) under score/."""
    features, labels = load_digits(return_X_y=True)
    s3 = s3_client(backend)
    s3.create_bucket(Bucket=BUCKET)
    training = np.column_stack([labels[:-HELD_OUT], features[:-HELD_OUT]])
    s3.put_object(Bucket=BUCKET, Key="train/digits.csv", Body=_csv(training))
    s3.put_object(Bucket=BUCKET, Key="score/held-out.csv", Body=_csv(features[-HELD_OUT:]))
    return features[-HELD_OUT:], labels[-HELD_OUT:]


def _csv(rows: np.ndarray) -> bytes:
    return "".join(",".join(str(value) for value in row) + "\n" for row in rows).encode()


def assert_scored_with_the_trained_model(
    backend: LocalSageMaker, suffix: str, held_out: tuple[np.ndarray, np.ndarray]
) -> None:
    client = make_client(backend.endpoint_url)
    training = client.describe_training_job(TrainingJobName=f"digits-{suffix}")
    assert training["TrainingJobStatus"] == "Completed", training.get("FailureReason")
    assert backend.s3 is not None
    with tarfile.open(backend.s3.path_for(training["ModelArtifacts"]["S3ModelArtifacts"])) as archive:
        model_file = archive.extractfile("model.joblib")
        assert model_file is not None
        model = joblib.load(io.BytesIO(model_file.read()))
    rows, labels = held_out
    scored = backend.s3.path_for(f"s3://{BUCKET}/scored/{suffix}/held-out.csv.out").read_text()
    predictions = np.array(scored.splitlines(), dtype=float)
    np.testing.assert_array_equal(predictions, model.predict(rows.astype(np.float32)))
    assert (predictions == labels).mean() > 0.8  # a real model recognises held-out digits


def run_conf(suffix: str) -> dict[str, str]:
    return {
        "training": TRAINING_DIR.as_uri(),
        "scripts": SCRIPTS.as_uri(),
        "bucket": BUCKET,
        "suffix": suffix,
    }


@pytest.mark.slow  # about 50 s: training, model and transform jobs waited on in the worker
def test_training_and_transform_operators_wait_synchronously(
    backend: LocalSageMaker, held_out: tuple[np.ndarray, np.ndarray], capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = load_dag_module("testing/amazon_provider_jobs.py").sync_dag.test(run_conf=run_conf("sync"))
    assert task_states(dag_run) == {"train": "success", "score": "success"}
    assert_scored_with_the_trained_model(backend, "sync", held_out)
    assert xcom(dag_run, "score")["Transform"]["TransformJobStatus"] == "Completed"
    # print_log: the operator printed the job's CloudWatch events
    log = (backend.home / "training" / "digits-sync" / "training.log").read_text().splitlines()
    metric_lines = [line for line in log if "validation:accuracy=" in line]
    assert metric_lines
    console = "".join(capfd.readouterr())
    assert all(line in console for line in metric_lines)


@pytest.mark.slow  # about 15 s: training and transform jobs, deferred
def test_training_and_transform_operators_deferred(
    backend: LocalSageMaker, held_out: tuple[np.ndarray, np.ndarray]
) -> None:
    dag_run = load_dag_module("testing/amazon_provider_jobs.py").deferrable_dag.test(
        run_conf=run_conf("deferred")
    )
    assert task_states(dag_run) == {"train": "success", "score": "success"}
    assert_scored_with_the_trained_model(backend, "deferred", held_out)

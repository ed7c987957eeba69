"""Run inside the SageMaker Python SDK v2 venv: the SDK's tuning flow against whatever endpoint
``AWS_ENDPOINT_URL`` names. Prints one JSON line with what each step saw, for the test to check."""

import json
import sys

import boto3
import sagemaker
from sagemaker.analytics import TrainingJobAnalytics
from sagemaker.estimator import Estimator
from sagemaker.sklearn import SKLearn
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def sdk_config(bucket: str) -> dict:
    """The SDK's configuration (what ~/.config/sagemaker/config.yaml holds): no telemetry calls,
    and a default bucket named, as the SDK otherwise asks STS for the account id at STS's regional
    endpoint, an address it passes explicitly and which AWS_ENDPOINT_URL therefore does not cover."""
    modules = {"TelemetryOptOut": True, "Session": {"DefaultS3Bucket": bucket}}
    return {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": modules}}}


def main(source_dir: str, job_name: str, bucket: str) -> None:
    session = sagemaker.Session(boto_session=boto3.Session(), sagemaker_config=sdk_config(bucket))
    estimator = SKLearn(
        entry_point="train.py",
        source_dir=source_dir,
        framework_version="1.2-1",
        instance_type="ml.m5.large",
        instance_count=1,
        role=ROLE,
        sagemaker_session=session,
        hyperparameters={"epochs": 2},
    )
    tuner = HyperparameterTuner(
        estimator,
        objective_metric_name="loss",
        objective_type="Minimize",
        hyperparameter_ranges={"x": ContinuousParameter(-1.0, 1.0)},
        metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9.eE+-]+)"}],
        max_jobs=2,
        max_parallel_jobs=2,
        random_seed=7,
    )
    tuner.fit(job_name=job_name, wait=True)
    attached = HyperparameterTuner.attach(job_name, sagemaker_session=session)
    best_name = attached.best_training_job()
    best = attached.best_estimator()
    training = Estimator.attach(best_name, sagemaker_session=session)
    frame = TrainingJobAnalytics(best_name, metric_names=["loss"], sagemaker_session=session).dataframe()
    description = session.sagemaker_client.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=job_name
    )
    print(
        json.dumps(
            {
                "status": description["HyperParameterTuningJobStatus"],
                "submit_directory": description["TrainingJobDefinition"]["StaticHyperParameters"][
                    "sagemaker_submit_directory"
                ],
                "attached_objective": attached.objective_metric_name,
                "attached_max_jobs": attached.max_jobs,
                "attached_ranges": attached.hyperparameter_ranges(),
                "attached_instance_type": attached.estimator.instance_type,
                "best_training_job": best_name,
                "best_estimator_job": best.latest_training_job.name,
                "best_estimator_entry_point": best.entry_point,
                "best_estimator_class": type(best).__name__,
                "best_estimator_hyperparameters": best.hyperparameters(),
                "estimator_model_data": training.model_data,
                "estimator_instance_type": training.instance_type,
                "analytics_metrics": sorted(set(frame["metric_name"])),
                "analytics_values": [float(value) for value in frame["value"]],
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:])

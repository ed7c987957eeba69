"""Run inside the SageMaker Python SDK v2 venv: the SDK's tuning flow against whatever endpoint
``AWS_ENDPOINT_URL`` names. Prints one JSON line with what each step saw, for the test to check."""

import json
import sys

from sagemaker.analytics import TrainingJobAnalytics
from sagemaker.estimator import Estimator
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner
from sdk_v2_session import sdk_session, sklearn_estimator


def main(source_dir: str, job_name: str, bucket: str) -> None:
    session = sdk_session(bucket)
    estimator = sklearn_estimator(session, "train.py", source_dir, {"epochs": 2})
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

"""Run inside the sagemaker-core venv: read a tuning job and its best training job with SageMaker's
typed resources (``sagemaker.core.resources``) from whatever endpoint ``AWS_ENDPOINT_URL`` names.
Prints one JSON line with what the resources hold, for the test to check."""

import json
import sys

import boto3
from sagemaker.core.resources import HyperParameterTuningJob, TrainingJob


def main(tuning_job_name: str) -> None:
    session = boto3.Session()
    tuning_job = HyperParameterTuningJob.get(tuning_job_name, session=session, region=session.region_name)
    children = sorted(summary.training_job_name for summary in tuning_job.get_all_training_jobs())
    best = TrainingJob.get(
        tuning_job.best_training_job.training_job_name, session=session, region=session.region_name
    )
    definition = tuning_job.training_job_definition
    print(
        json.dumps(
            {
                "status": tuning_job.hyper_parameter_tuning_job_status,
                "objective": tuning_job.hyper_parameter_tuning_job_config.hyper_parameter_tuning_job_objective.metric_name,
                "completed": tuning_job.training_job_status_counters.completed,
                "definition_instance_type": definition.resource_config.instance_type,
                "definition_static_objective": definition.static_hyper_parameters["_tuning_objective_metric"],
                "training_jobs": children,
                "best_name": best.training_job_name,
                "best_status": best.training_job_status,
                "best_tuning_job_arn": best.tuning_job_arn,
                "best_hyper_parameters": best.hyper_parameters,
                "best_model": best.model_artifacts.s3_model_artifacts,
                "best_instance_type": best.resource_config.instance_type,
                "best_kms_key_id": best.output_data_config.kms_key_id,
                "best_final_metrics": {
                    metric.metric_name: metric.value for metric in best.final_metric_data_list
                },
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:])

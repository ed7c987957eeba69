"""Operator extra link to the tuning job in the SageMaker console."""

from __future__ import annotations

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class TuningJobLink(BaseAwsLink):
    """The SageMaker console page of the tuning job (partition- and region-aware)."""

    name = "SageMaker Tuning Job"
    key = "airflow_hpt_tuning_job"
    format_str = BASE_AWS_CONSOLE_LINK + "/sagemaker/home?region={region_name}#/hyper-tuning-jobs/{job_name}"

"""What the amazon provider test DAGs' job configs share: a role, the S3 train channel and model
output under `params.bucket`, one small instance."""

from __future__ import annotations

from typing import Any

ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerRole"


def s3_training_setup() -> dict[str, Any]:
    """The part of a training job definition after its algorithm: role, a `train` channel of CSV
    under s3://{{ params.bucket }}/train/, models under s3://{{ params.bucket }}/models."""
    return {
        "RoleArn": ROLE_ARN,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://{{ params.bucket }}/train/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://{{ params.bucket }}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }

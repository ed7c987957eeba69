"""What the SageMaker Python SDK v2 scripts share (imported from beside them: a script's folder is
first on its path): a session against whatever endpoint ``AWS_ENDPOINT_URL`` names, and an
``SKLearn`` estimator on one ml.m5.large instance."""

import boto3
import sagemaker
from sagemaker.sklearn import SKLearn

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def sdk_config(bucket: str) -> dict:
    """The SDK's configuration (what ~/.config/sagemaker/config.yaml holds): no telemetry calls,
    and a default bucket named, as the SDK otherwise asks STS for the account id at STS's regional
    endpoint, an address it passes explicitly and which AWS_ENDPOINT_URL therefore does not cover."""
    modules = {"TelemetryOptOut": True, "Session": {"DefaultS3Bucket": bucket}}
    return {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": modules}}}


def sdk_session(bucket: str) -> sagemaker.Session:
    return sagemaker.Session(boto_session=boto3.Session(), sagemaker_config=sdk_config(bucket))


def sklearn_estimator(
    session: sagemaker.Session, entry_point: str, source_dir: str, hyperparameters: dict
) -> SKLearn:
    return SKLearn(
        entry_point=entry_point,
        source_dir=source_dir,
        framework_version="1.2-1",
        instance_type="ml.m5.large",
        instance_count=1,
        role=ROLE,
        sagemaker_session=session,
        hyperparameters=hyperparameters,
    )

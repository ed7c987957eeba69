"""Run inside the SageMaker Python SDK v2 venv: ``fit()`` -> ``deploy()`` -> ``predict()`` ->
``delete_endpoint()`` with an ``SKLearn`` estimator, against whatever endpoint ``AWS_ENDPOINT_URL``
names. Prints one JSON line with what each step saw, for the test to check."""

import json
import sys

import numpy as np
from sdk_v2_session import sdk_session, sklearn_estimator


def main(
    source_dir: str, train_csv: str, queries_csv: str, job_name: str, endpoint_name: str, bucket: str
) -> None:
    session = sdk_session(bucket)
    # into the session's default bucket, which the SDK creates when it does not exist
    train_uri = session.upload_data(train_csv, key_prefix=f"{job_name}/data")
    estimator = sklearn_estimator(session, "classifier.py", source_dir, {"C": 10.0})
    estimator.fit({"train": train_uri}, job_name=job_name, wait=True, logs=True)
    predictor = estimator.deploy(
        initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint_name
    )
    queries = np.loadtxt(queries_csv, delimiter=",", ndmin=2)
    predictions = predictor.predict(queries)
    model_name = session.sagemaker_client.describe_endpoint_config(EndpointConfigName=endpoint_name)[
        "ProductionVariants"
    ][0]["ModelName"]
    predictor.delete_endpoint()
    print()  # ends the line of progress dots deploy() printed while waiting for InService
    print(
        json.dumps(
            {
                "train_uri": train_uri,
                "model_data": estimator.model_data,
                "model_name": model_name,
                "predictor_class": type(predictor).__name__,
                "predictions": [int(label) for label in np.asarray(predictions).ravel()],
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:])

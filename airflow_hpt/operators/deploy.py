"""DeployModelOperator: put a tuning job's best model on a SageMaker endpoint, creating or updating it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_hpt.operators._common import TuningTaskMixin

if TYPE_CHECKING:
    from airflow.sdk import Context


class DeployModelOperator(TuningTaskMixin, BaseOperator):
    """CreateModel from the best training job's artifacts, CreateEndpointConfig, then CreateEndpoint, or
    UpdateEndpoint when the endpoint exists; wait until it is InService.

    The model is tagged with its objective, so a later :class:`QualityGateOperator` can compare a new
    model with it. Safe to retry: resources already created by an earlier try are reused.

    :param result: the tuning result (``tune.output``, a template pulling it, or an asset event's extra).
    :param endpoint_name: the endpoint to create or update.
    :param image: the inference container image.
    :param execution_role_arn: the role SageMaker assumes for the model.
    :param model_name: default: the best training job's name.
    :param entry_point: the inference script (``model_fn`` and the other handlers), as the SDK's
        framework models take it: a path inside ``source_dir``, or without it a local file.
    :param source_dir: the ``s3://`` URI of a ``sourcedir.tar.gz``, or a local folder that is packed
        and uploaded to ``<code_location>/<model name>/sourcedir.tar.gz`` through the connection.
    :param code_location: S3 prefix for packed code; default: the model artifacts' bucket.
    :param container_log_level: ``SAGEMAKER_CONTAINER_LOG_LEVEL`` (default ``logging.INFO``).
    :param env: more of the model's container environment (the framework's variables win).
    """

    template_fields: Sequence[str] = (
        "result",
        "endpoint_name",
        "model_name",
        "image",
        "execution_role_arn",
        "entry_point",
        "source_dir",
        "code_location",
        "env",
        "instance_type",
        "aws_conn_id",
        "region_name",
    )

    def __init__(
        self,
        *,
        result: Any,
        endpoint_name: str,
        image: str,
        execution_role_arn: str,
        model_name: str | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
        code_location: str | None = None,
        container_log_level: int = logging.INFO,
        env: dict[str, str] | None = None,
        instance_type: str = "ml.m5.large",
        initial_instance_count: int = 1,
        wait_for_completion: bool = True,
        check_interval: float = 5,
        max_wait: float = 3600,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.result = result
        self.endpoint_name = endpoint_name
        self.image = image
        self.execution_role_arn = execution_role_arn
        self.model_name = model_name
        self.entry_point = entry_point
        self.source_dir = source_dir
        self.code_location = code_location
        self.container_log_level = container_log_level
        self.env = env
        self.instance_type = instance_type
        self.initial_instance_count = initial_instance_count
        self.wait_for_completion = wait_for_completion
        self.check_interval = check_interval
        self.max_wait = max_wait
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_hpt.operators._common import as_result
        from airflow_hpt.quality import model_tags

        result = as_result(self.result)
        if not result.get("model_artifacts"):
            raise ValueError(f"The tuning result has no model artifacts to deploy: {result}")
        base_name = self.model_name or result["best_training_job_name"]
        container = {
            "Image": self.image,
            "ModelDataUrl": result["model_artifacts"],
            **self._environment(result["model_artifacts"], base_name),
        }
        model_name = self._model_name(base_name, container)
        config_name = f"{model_name}-config"
        self._create_if_missing(
            "create_model",
            ModelName=model_name,
            PrimaryContainer=container,
            ExecutionRoleArn=self.execution_role_arn,
            Tags=model_tags(result),
        )
        self._create_if_missing(
            "create_endpoint_config",
            EndpointConfigName=config_name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model_name,
                    "InitialInstanceCount": self.initial_instance_count,
                    "InstanceType": self.instance_type,
                }
            ],
        )
        action = self._create_or_update_endpoint(config_name)
        endpoint = self.hook.call("describe_endpoint", EndpointName=self.endpoint_name)
        if self.wait_for_completion:
            endpoint = self._wait_in_service()
        self.log.info("Endpoint %s %s with model %s", self.endpoint_name, action, model_name)
        return {
            "endpoint_name": self.endpoint_name,
            "endpoint_arn": endpoint["EndpointArn"],
            "endpoint_status": endpoint["EndpointStatus"],
            "model_name": model_name,
            "endpoint_config_name": config_name,
            "model_artifacts": result["model_artifacts"],
            "objective_value": result.get("objective_value"),
            "action": action,
        }

    def _environment(self, model_artifacts: str, model_name: str) -> dict[str, Any]:
        """The container's ``Environment`` as the SDK's framework models set it, uploading local code."""
        from airflow_hpt.inference_code import framework_environment, inference_code, pack, upload_uri

        code = inference_code(self.entry_point, self.source_dir)
        if code is None:
            return {"Environment": dict(self.env)} if self.env else {}
        submit_directory = code.archive_uri
        if code.local_path is not None:
            archive = pack(code.local_path)
            submit_directory = upload_uri(model_artifacts, model_name, archive, self.code_location)
            self._upload(archive, submit_directory)
        assert submit_directory is not None  # an InferenceCode has an archive or a local path
        region = self.hook.conn.meta.region_name
        environment = framework_environment(
            code.entry_point, submit_directory, region, self.container_log_level, self.env
        )
        return {"Environment": environment}

    def _upload(self, archive: bytes, uri: str) -> None:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        bucket, key = S3Hook.parse_s3_url(uri)
        s3 = S3Hook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )
        s3.load_bytes(archive, key=key, bucket_name=bucket, replace=True)
        self.log.info("Inference code uploaded to %s (%d bytes)", uri, len(archive))

    def _model_name(self, base_name: str, container: dict[str, Any]) -> str:
        """``base_name``, unless a model of that name serves another container (the same best training
        job deployed with other code, e.g. a warm-started run whose best job is a parent's): then a
        name suffixed with the container's digest, so that model is never changed under its endpoint."""
        import hashlib
        import json

        from botocore.exceptions import ClientError

        try:
            existing = self.hook.call("describe_model", ModelName=base_name)["PrimaryContainer"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in {"ValidationException", "ResourceNotFound"}:
                raise
            return base_name
        if all(existing.get(key) == container.get(key) for key in ("Image", "ModelDataUrl", "Environment")):
            return base_name
        digest = hashlib.sha256(json.dumps(container, sort_keys=True).encode()).hexdigest()[:8]
        self.log.info(
            "Model %s exists with another container: deploying as %s-%s", base_name, base_name, digest
        )
        return f"{base_name}-{digest}"

    def _create_if_missing(self, operation: str, **kwargs: Any) -> None:
        from botocore.exceptions import ClientError

        try:
            self.hook.call(operation, **kwargs)
        except ClientError as error:
            if "already exist" not in str(error):
                raise
            self.log.info("%s: already there (an earlier try made it), reusing it", operation)

    def _create_or_update_endpoint(self, config_name: str) -> str:
        from botocore.exceptions import ClientError

        try:
            self.hook.call("create_endpoint", EndpointName=self.endpoint_name, EndpointConfigName=config_name)
            return "created"
        except ClientError as error:
            if "already exist" not in str(error):
                raise
        current = self.hook.call("describe_endpoint", EndpointName=self.endpoint_name)
        if current.get("EndpointConfigName") == config_name:
            return "unchanged"
        self._wait_in_service()
        self.hook.call("update_endpoint", EndpointName=self.endpoint_name, EndpointConfigName=config_name)
        return "updated"

    def _wait_in_service(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.max_wait
        while True:
            endpoint = self.hook.call("describe_endpoint", EndpointName=self.endpoint_name)
            status = endpoint["EndpointStatus"]
            if status == "InService":
                return endpoint
            if status == "Failed":
                raise RuntimeError(f"Endpoint {self.endpoint_name} Failed: {endpoint.get('FailureReason')}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Endpoint {self.endpoint_name} not InService after {self.max_wait}s ({status})"
                )
            time.sleep(self.check_interval)

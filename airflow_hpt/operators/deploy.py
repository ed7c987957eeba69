"""DeployModelOperator: put a tuning job's best model on a SageMaker endpoint, creating or updating it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import conf

from airflow_hpt.aws_task import DEFAULT_MIN_DEFERRAL, SageMakerTaskBase, aws_template_fields, seconds

if TYPE_CHECKING:
    from airflow.sdk import Context


class DeployModelOperator(SageMakerTaskBase):
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
    :param deferrable: wait for ``InService`` in the triggerer instead of a worker slot (SageMaker
        takes 5 to 15 minutes to bring an endpoint into service).
    :param max_wait: seconds (or a timedelta) to wait for the endpoint to serve the model; then the
        task fails (the endpoint is left to SageMaker: nothing is deleted).
    :param min_deferral: a deferred task resumes no sooner than this many seconds after it deferred
        (Airflow's deferral race, docs/waiting.md).

    An update that fails is rolled back by SageMaker: the task then fails with SageMaker's reason
    and names the model that still serves.

    The AWS connection arguments (``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``,
    all templated) are :class:`~airflow_hpt.aws_task.SageMakerTaskBase`'s.
    """

    template_fields: Sequence[str] = aws_template_fields(
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
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        check_interval: float = 5,
        max_wait: timedelta | float = 3600,
        min_deferral: timedelta | float = DEFAULT_MIN_DEFERRAL,
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
        self.deferrable = deferrable
        self.check_interval = check_interval
        self.max_wait = seconds(max_wait)
        self.min_deferral = seconds(min_deferral)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_hpt.aws_task import as_result
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
            "describe_model",
            "ModelName",
            ModelName=model_name,
            PrimaryContainer=container,
            ExecutionRoleArn=self.execution_role_arn,
            Tags=model_tags(result),
        )
        self._create_if_missing(
            "create_endpoint_config",
            "describe_endpoint_config",
            "EndpointConfigName",
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
        deployment = {
            "model_name": model_name,
            "endpoint_config_name": config_name,
            "model_artifacts": result["model_artifacts"],
            "objective_value": result.get("objective_value"),
        }
        deadline = time.time() + self.max_wait
        current = self._describe_endpoint()
        if current is None:
            self._create_endpoint(config_name)
            return self._await(context, deployment, "created", deadline)
        if current.get("EndpointConfigName") == config_name:
            return self._await(context, deployment, "unchanged", deadline)
        return self._update_when_settled(context, deployment, current, deadline)

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        deployment: dict[str, Any] | None = None,
        phase: str = "deployed",
        action: str = "created",
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Resume from the triggerer: update once an earlier change settled, or conclude the deployment.

        Without the trigger's event (Airflow can resume so, docs/waiting.md) the endpoint is read.
        """
        from airflow_hpt.endpoints import Outcome, outcome

        if event:
            handoff = event["handoff"]
            deployment, phase, action, deadline = (
                handoff["deployment"],
                handoff["phase"],
                handoff["action"],
                handoff["deadline"],
            )
        if deployment is None or deadline is None:
            raise RuntimeError("Resumed without the deployment: the deferral's kwargs and event were lost")
        config_name = deployment["endpoint_config_name"]
        if event and event.get("status") == "error":
            raise RuntimeError(event.get("message"))
        if event and event.get("status") == "timeout":
            raise self._timeout(event["endpoint"].get("EndpointStatus"))
        endpoint = event["endpoint"] if event else self._describe_endpoint()
        if endpoint is None:
            raise RuntimeError(f"Endpoint {self.endpoint_name} no longer exists")
        if phase == "update":
            return self._update_when_settled(context, deployment, endpoint, deadline)
        if outcome(endpoint, config_name) is Outcome.SETTLING:
            self.log.warning(
                "Resumed without the trigger's event; endpoint %s still settling", self.endpoint_name
            )
            return self._await(context, deployment, action, deadline)
        return self._conclude(deployment, endpoint, action)

    def _update_when_settled(
        self, context: Context, deployment: dict[str, Any], current: dict[str, Any], deadline: float
    ) -> dict[str, Any]:
        """UpdateEndpoint, once the endpoint is out of an earlier change (SageMaker refuses it before)."""
        from airflow_hpt.endpoints import Outcome, outcome

        if outcome(current, None) is Outcome.SETTLING:
            if self.deferrable:
                self._defer(deployment, None, "update", "updated", deadline)
            current = self._wait_settled(None, deadline)
        config_name = deployment["endpoint_config_name"]
        if current.get("EndpointConfigName") == config_name and current.get("EndpointStatus") == "InService":
            return self._conclude(deployment, current, "unchanged")
        self.hook.call("update_endpoint", EndpointName=self.endpoint_name, EndpointConfigName=config_name)
        return self._await(context, deployment, "updated", deadline)

    def _await(
        self, context: Context, deployment: dict[str, Any], action: str, deadline: float
    ) -> dict[str, Any]:
        """Wait until the endpoint serves the deployment: here, or in the triggerer when deferrable."""
        from airflow_hpt.endpoints import Outcome, outcome, summary

        config_name = deployment["endpoint_config_name"]
        endpoint = self._describe_endpoint() or {}
        if not self.wait_for_completion:
            return self._result(deployment, summary(endpoint), action)
        if outcome(endpoint, config_name) is Outcome.SETTLING:
            if self.deferrable:
                self._defer(deployment, config_name, "deployed", action, deadline)
            endpoint = self._wait_settled(config_name, deadline)
        return self._conclude(deployment, endpoint, action)

    def _defer(
        self,
        deployment: dict[str, Any],
        config_name: str | None,
        phase: str,
        action: str,
        deadline: float,
    ) -> NoReturn:
        from airflow_hpt.triggers.endpoint import EndpointTrigger

        handoff = {"deployment": deployment, "phase": phase, "action": action, "deadline": deadline}
        self.defer(
            trigger=EndpointTrigger(
                endpoint_name=self.endpoint_name,
                endpoint_config_name=config_name,
                handoff=handoff,
                **self.wait_kwargs(deadline),
            ),
            method_name="execute_complete",
            kwargs=handoff,
            # the trigger reports the deadline itself; this is only a backstop
            timeout=self.backstop_timeout(deadline),
        )

    def _wait_settled(self, config_name: str | None, deadline: float) -> dict[str, Any]:
        from airflow_hpt.endpoints import Outcome, outcome

        while True:
            endpoint = self._describe_endpoint()
            if endpoint is None:
                raise RuntimeError(f"Endpoint {self.endpoint_name} no longer exists")
            if outcome(endpoint, config_name) is not Outcome.SETTLING:
                return endpoint
            if time.time() >= deadline:
                raise self._timeout(endpoint["EndpointStatus"])
            time.sleep(max(0.0, min(self.check_interval, deadline - time.time())))

    def _timeout(self, status: str | None) -> TimeoutError:
        return TimeoutError(f"Endpoint {self.endpoint_name} not InService after {self.max_wait}s ({status})")

    def _conclude(self, deployment: dict[str, Any], endpoint: dict[str, Any], action: str) -> dict[str, Any]:
        """The task's result when the endpoint serves the deployment; otherwise fail with SageMaker's reason."""
        from airflow_hpt.endpoints import Outcome, failure_message, outcome, summary
        from airflow_hpt.exceptions import DeploymentFailed

        config_name = deployment["endpoint_config_name"]
        state = outcome(endpoint, config_name)
        if state is Outcome.IN_SERVICE:
            self.log.info(
                "Endpoint %s %s with model %s", self.endpoint_name, action, deployment["model_name"]
            )
            return self._result(deployment, summary(endpoint), action)
        serving: list[str] = []
        if state is Outcome.ROLLED_BACK:
            config = self.hook.call(
                "describe_endpoint_config", EndpointConfigName=endpoint["EndpointConfigName"]
            )
            serving = [variant["ModelName"] for variant in config.get("ProductionVariants", [])]
        raise DeploymentFailed(failure_message(endpoint, config_name, serving))

    def _result(self, deployment: dict[str, Any], endpoint: dict[str, str], action: str) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "endpoint_arn": endpoint.get("EndpointArn"),
            "endpoint_status": endpoint.get("EndpointStatus"),
            "model_name": deployment["model_name"],
            "endpoint_config_name": deployment["endpoint_config_name"],
            "model_artifacts": deployment["model_artifacts"],
            "objective_value": deployment["objective_value"],
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

    def _describe_endpoint(self) -> dict[str, Any] | None:
        """DescribeEndpoint, or None when there is no such endpoint."""
        from botocore.exceptions import ClientError

        from airflow_hpt.hooks.tuning import error_code

        try:
            return self.hook.call("describe_endpoint", EndpointName=self.endpoint_name)
        except ClientError as error:
            # SageMaker answers a Describe of a missing endpoint with ValidationException
            if error_code(error) in {"ValidationException", "ResourceNotFound"}:
                return None
            raise

    def _create_endpoint(self, config_name: str) -> None:
        self._create_if_missing(
            "create_endpoint",
            "describe_endpoint",
            "EndpointName",
            EndpointName=self.endpoint_name,
            EndpointConfigName=config_name,
        )

    def _create_if_missing(self, operation: str, describe: str, name_member: str, **kwargs: Any) -> None:
        """Create a resource; one an earlier try made is reused.

        SageMaker's hosting calls answer every refusal with ValidationException (an existing name
        included), so the code alone cannot tell "exists" from "invalid": the resource is described,
        and only one that exists is reused.
        """
        from botocore.exceptions import ClientError

        from airflow_hpt.hooks.tuning import error_code

        try:
            self.hook.create(operation, **kwargs)
        except ClientError as error:
            if error_code(error) != "ValidationException":
                raise
            try:
                self.hook.call(describe, **{name_member: kwargs[name_member]})
            except ClientError:
                raise error from None
            self.log.info(
                "%s: %s already exists (an earlier try made it), reusing it", operation, kwargs[name_member]
            )

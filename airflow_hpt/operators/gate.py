"""QualityGateOperator: let the deployment go ahead only for a model that is good enough."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_hpt.aws_task import SageMakerTaskBase, aws_template_fields

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_hpt.quality import Champion


class QualityGateOperator(SageMakerTaskBase):
    """Skip (not fail) the downstream deployment unless the tuned model is good enough.

    :param result: the tuning result (``tune.output`` or a template pulling it from XCom).
    :param min_objective: the threshold the best objective must reach (for a Minimize objective, the
        highest acceptable value). None: no threshold.
    :param champion_endpoint_name: compare with the model serving on this endpoint now, as tagged by
        :class:`~airflow_hpt.operators.deploy.DeployModelOperator`; the new model must beat it. None
        or a missing endpoint: no champion.

    The AWS connection arguments (``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``,
    all templated) are :class:`~airflow_hpt.aws_task.SageMakerTaskBase`'s.
    """

    template_fields: Sequence[str] = aws_template_fields("result", "min_objective", "champion_endpoint_name")

    def __init__(
        self,
        *,
        result: Any,
        min_objective: float | None = None,
        champion_endpoint_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.result = result
        self.min_objective = min_objective
        self.champion_endpoint_name = champion_endpoint_name

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from airflow_hpt.aws_task import as_result
        from airflow_hpt.quality import decide

        threshold = None if self.min_objective in (None, "") else float(self.min_objective)
        champion = self._champion() if self.champion_endpoint_name else None
        decision = decide(as_result(self.result), min_objective=threshold, champion=champion)
        if not decision.deploy:
            self.log.info("Quality gate closed, deployment skipped: %s", decision.reason)
            raise AirflowSkipException(f"Quality gate closed: {decision.reason}")
        self.log.info("Quality gate open: %s", decision.reason)
        return {"deploy": True, "reason": decision.reason}

    def _champion(self) -> Champion | None:
        from botocore.exceptions import ClientError

        from airflow_hpt.hooks.tuning import error_code
        from airflow_hpt.quality import champion_from_tags

        try:
            endpoint = self.hook.call("describe_endpoint", EndpointName=self.champion_endpoint_name)
            config = self.hook.call(
                "describe_endpoint_config", EndpointConfigName=endpoint["EndpointConfigName"]
            )
            model_name = config["ProductionVariants"][0]["ModelName"]
            model = self.hook.call("describe_model", ModelName=model_name)
        except ClientError as error:
            if error_code(error) not in {"ValidationException", "ResourceNotFound"}:
                raise
            self.log.info("No champion on endpoint %s (%s)", self.champion_endpoint_name, error)
            return None
        tags = self.hook.call("list_tags", ResourceArn=model["ModelArn"]).get("Tags", [])
        champion = champion_from_tags(model_name, {tag["Key"]: tag["Value"] for tag in tags})
        if champion is None:
            self.log.info(
                "The model %s on endpoint %s carries no objective tags",
                model_name,
                self.champion_endpoint_name,
            )
        return champion

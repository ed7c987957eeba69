"""The hosting operations: models, endpoint configs and endpoints (handled by :class:`Deployments`)."""

from __future__ import annotations

from airflow_hpt.local.hosting.deploy import Deployments
from airflow_hpt.local.sagemaker.registry import Handler


def hosting_operations(deployments: Deployments) -> dict[str, Handler]:
    return {
        "CreateModel": deployments.create_model,
        "DescribeModel": deployments.describe_model,
        "DeleteModel": deployments.delete_model,
        "ListModels": deployments.list_models,
        "CreateEndpointConfig": deployments.create_endpoint_config,
        "DescribeEndpointConfig": deployments.describe_endpoint_config,
        "DeleteEndpointConfig": deployments.delete_endpoint_config,
        "ListEndpointConfigs": deployments.list_endpoint_configs,
        "CreateEndpoint": deployments.create_endpoint,
        "DescribeEndpoint": deployments.describe_endpoint,
        "UpdateEndpoint": deployments.update_endpoint,
        "DeleteEndpoint": deployments.delete_endpoint,
        "ListEndpoints": deployments.list_endpoints,
    }

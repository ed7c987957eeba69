"""Apache Airflow provider for Amazon SageMaker automatic model tuning."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from airflow_hpt.operators.deploy import DeployModelOperator
    from airflow_hpt.operators.gate import QualityGateOperator
    from airflow_hpt.operators.tuning import CreateTuningJobOperator
    from airflow_hpt.sensors.tuning import TuningJobSensor
    from airflow_hpt.warmstart import WarmStart

__all__ = [
    "CreateTuningJobOperator",
    "DeployModelOperator",
    "QualityGateOperator",
    "TuningJobSensor",
    "WarmStart",
    "__version__",
    "get_provider_info",
]

# Imported on first use so that `import airflow_hpt` (done by Airflow's provider discovery in
# every process) stays cheap.
_LAZY_EXPORTS = {
    "CreateTuningJobOperator": "airflow_hpt.operators.tuning",
    "DeployModelOperator": "airflow_hpt.operators.deploy",
    "QualityGateOperator": "airflow_hpt.operators.gate",
    "TuningJobSensor": "airflow_hpt.sensors.tuning",
    "WarmStart": "airflow_hpt.warmstart",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'airflow_hpt' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ProvidersManager (entry point `apache_airflow_provider`)."""
    return {
        "package-name": "airflow-hpt",
        "name": "SageMaker Hyperparameter Tuning (airflow-hpt)",
        "description": "Templated, validated, deferrable Amazon SageMaker hyperparameter tuning jobs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Amazon SageMaker Automatic Model Tuning",
                "external-doc-url": "https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning.html",
                "tags": ["aws"],
            }
        ],
        "operators": [
            {
                "integration-name": "Amazon SageMaker Automatic Model Tuning",
                "python-modules": [
                    "airflow_hpt.operators.tuning",
                    "airflow_hpt.operators.gate",
                    "airflow_hpt.operators.deploy",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Amazon SageMaker Automatic Model Tuning",
                "python-modules": ["airflow_hpt.sensors.tuning"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Amazon SageMaker Automatic Model Tuning",
                "python-modules": ["airflow_hpt.hooks.tuning"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Amazon SageMaker Automatic Model Tuning",
                "python-modules": [
                    "airflow_hpt.triggers.tuning",
                    "airflow_hpt.triggers.endpoint",
                    "airflow_hpt.triggers.capacity",
                ],
            }
        ],
        "extra-links": ["airflow_hpt.links.tuning.TuningJobLink"],
    }

"""OpenLineage objects for the tuning tasks (needs ``airflow-hpt[openlineage]``).

Imported only by the tasks' ``get_openlineage_facets_on_*`` methods, which the OpenLineage provider's
listener calls; a deployment without the provider never imports it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.providers.common.compat.openlineage.facet import Dataset, RunFacet
from airflow.providers.openlineage.extractors.base import OperatorLineage
from attrs import define

from airflow_hpt.lineage import RUN_FACET_KEY, TuningLineage

# The JSON schema ships in the package (airflow_hpt/schemas/AirflowHptTuningJobRunFacet.json) and a URN
# is its $id, as no host serves it; OpenLineage's _schemaURL points into it with a JSON pointer.
SCHEMA_ID = "urn:airflow-hpt:schema:AirflowHptTuningJobRunFacet:1-0-0"
SCHEMA_URL = f"{SCHEMA_ID}#/$defs/AirflowHptTuningJobRunFacet"


@define
class AirflowHptTuningJobRunFacet(RunFacet):
    """The SageMaker hyperparameter tuning job behind an Airflow task run."""

    tuningJobName: str | None = None
    tuningJobArn: str | None = None
    status: str | None = None
    strategy: str | None = None
    objectiveMetric: str | None = None
    objectiveType: str | None = None
    bestObjectiveValue: float | None = None
    bestTrainingJobName: str | None = None
    bestTrainingJobArn: str | None = None
    warmStartParents: list[str] | None = None

    # identifiers, not secrets: keep them readable when the client redacts facets
    _additional_skip_redact: ClassVar[list[str]] = [
        "tuningJobName",
        "tuningJobArn",
        "bestTrainingJobName",
        "bestTrainingJobArn",
        "warmStartParents",
    ]

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


def operator_lineage(lineage: TuningLineage) -> OperatorLineage:
    """The provider's ``OperatorLineage`` for plain lineage data."""
    run_facets: dict[str, Any] = {}
    if lineage.run:
        run_facets[RUN_FACET_KEY] = AirflowHptTuningJobRunFacet(**lineage.run)
    return OperatorLineage(
        inputs=[Dataset(namespace=d.namespace, name=d.name) for d in lineage.inputs],
        outputs=[Dataset(namespace=d.namespace, name=d.name) for d in lineage.outputs],
        run_facets=run_facets,
    )

"""The one registry of SageMaker operations the front dispatches from: operation name to handler.

Each resource's operations live in a module of their own (tuning_jobs, training_jobs,
transform_jobs, hosting, tags); the registry joins their tables and checks a request against the
service model before its handler runs. Responses follow the botocore service model's output shapes
(member names, wire types, timestamps as epoch seconds). Failures raise :class:`ApiError` carrying
one of SageMaker's error codes; the HTTP front turns it into the AWS JSON error shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from airflow_hpt.exceptions import InvalidTuningRequest
from airflow_hpt.local.hosting.deploy import DeploymentRejected
from airflow_hpt.local.http.errors import UNKNOWN_OPERATION, ApiError, Body, validation
from airflow_hpt.local.state.store import Store
from airflow_hpt.request.validate import operation_problems

Handler = Callable[[Body], Body]

# Creates whose handlers check the service model together with SageMaker's Create rules, in one answer
_VALIDATED_BY_HANDLER = frozenset(
    {"CreateHyperParameterTuningJob", "CreateTrainingJob", "CreateTransformJob"}
)


class Operations:
    """Dispatches an operation name to its resource's handler (``handle``)."""

    def __init__(self, store: Store, *tables: Mapping[str, Handler]) -> None:
        self.store = store
        self._handlers: dict[str, Handler] = {}
        for table in tables:
            overlap = self._handlers.keys() & table.keys()
            if overlap:
                raise ValueError(f"operations registered twice: {', '.join(sorted(overlap))}")
            self._handlers.update(table)

    def serves(self, operation: str) -> bool:
        return operation in self._handlers

    def handle(self, operation: str, body: Body) -> Body:
        handler = self._handlers.get(operation)
        if handler is None:
            raise ApiError(UNKNOWN_OPERATION, f"Operation {operation} is not supported")
        if operation not in _VALIDATED_BY_HANDLER:
            problems = operation_problems(body, operation)
            if problems:
                raise validation(str(InvalidTuningRequest(problems, operation)))
        try:
            return handler(body)
        except DeploymentRejected as error:
            raise validation(str(error)) from None

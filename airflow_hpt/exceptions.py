"""Exceptions raised by airflow-hpt. No Airflow import: used by the pure modules too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

# A refusal is backed by evidence that SageMaker refuses too; a warning is a rule without such
# evidence: logged and printed, never failing (docs/request.md, "Evidence").
Severity = Literal["refusal", "warning"]
# strict: refusals fail the request, warnings are logged; warn: everything is logged, nothing fails.
# Here, not in airflow_hpt.request, so the operator's module stays light to import at DAG parse time.
Validation = Literal["strict", "warn"]
VALIDATION_MODES: tuple[Validation, ...] = ("strict", "warn")


@dataclass(frozen=True)
class Problem:
    """One broken rule: where in the request (a dotted JSON path), what rule, how sure.

    ``rule_id`` names the rule in ``airflow_hpt.request.evidence.RULES``, which holds its severity
    and its source.
    """

    path: str
    rule: str
    severity: Severity = "refusal"
    rule_id: str = "service-model"

    def __str__(self) -> str:
        return f"{self.path or '<request>'}: {self.rule}"


class InvalidTuningRequest(ValueError):
    """The request breaks one or more rules; every problem is listed, each with its JSON path.

    ``operation`` names the API operation when the request is not a CreateHyperParameterTuningJob.
    """

    def __init__(self, problems: list[Problem], operation: str = "tuning") -> None:
        self.problems = list(problems)
        self.operation = operation
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"Invalid {operation} request ({len(self.problems)} problem(s)):\n{lines}")

    def redacted(self, redact: Callable[[str], object]) -> InvalidTuningRequest:
        """This error with every problem passed through ``redact`` (e.g. Airflow's secrets masker).

        ``self`` when nothing changed; otherwise a new error, to be raised outside any ``except``
        block so that it does not chain to this one, which still holds the secret.
        """
        problems = [
            replace(problem, path=str(redact(problem.path)), rule=str(redact(problem.rule)))
            for problem in self.problems
        ]
        return self if problems == self.problems else InvalidTuningRequest(problems, self.operation)


class TemplateError(ValueError):
    """A request template could not be found, parsed or rendered."""

    def redacted(self, redact: Callable[[str], object]) -> TemplateError:
        """This error with its message passed through ``redact``; ``self`` when nothing changed."""
        message = str(self)
        clean = str(redact(message))
        return self if clean == message else TemplateError(clean)


class UnknownConnection(LookupError):
    """The task names an Airflow connection that is not defined."""


class TuningJobFailed(RuntimeError):
    """The tuning job ended Failed, or Stopped when that counts as failure."""


class TuningJobConflict(RuntimeError):
    """The job name is taken by a job this task did not create."""


class CreateNotConfirmed(RuntimeError):
    """SageMaker answered a Create with transient errors (throttling, 5xx, dropped connections) for
    longer than the Create may retry: whether a resource was made is unknown; a later try of the task
    reattaches to it if it was (the Create is idempotent by name and fingerprint)."""


class TuningJobNotStopped(PermissionError):
    """Stopping the job was refused (IAM): it keeps running, and costing, until it ends or is stopped."""


class BudgetError(ValueError):
    """The budget of a request cannot be computed as asked (no bound, no price for an instance type)."""


class BudgetExceeded(ValueError):
    """The request's worst case is over the task's cap; the message gives the computation."""


class CapacityUnavailable(RuntimeError):
    """SageMaker answered ResourceLimitExceeded (an account quota is full); its message names the quota."""

    def __init__(self, message: str, sagemaker_message: str) -> None:
        super().__init__(message)
        self.sagemaker_message = sagemaker_message


class DeploymentFailed(RuntimeError):
    """An endpoint did not go into service with the deployed model (SageMaker's reason included)."""

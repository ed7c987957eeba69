"""Exceptions raised by airflow-hpt. No Airflow import: used by the pure modules too."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One broken rule: where in the request (a dotted JSON path) and what rule."""

    path: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path or '<request>'}: {self.rule}"


class InvalidTuningRequest(ValueError):
    """The request breaks one or more rules; every problem is listed, each with its JSON path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"Invalid tuning request ({len(self.problems)} problem(s)):\n{lines}")


class TemplateError(ValueError):
    """A request template could not be found, parsed or rendered."""


class UnknownConnection(LookupError):
    """The task names an Airflow connection that is not defined."""


class TuningJobFailed(RuntimeError):
    """The tuning job ended Failed, or Stopped when that counts as failure."""


class TuningJobConflict(RuntimeError):
    """The job name is taken by a job this task did not create."""

"""What the store keeps of a resource: the members its Describe answers with, and the backend's own
bookkeeping beside them, typed per kind of resource.

The bookkeeping never reaches a Describe: an answer is built from ``Stored.fields`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypedDict, TypeVar

Record = dict[str, Any]
ObjectiveStatus = Literal["Pending", "Succeeded", "Failed"]


class Tag(TypedDict):
    Key: str
    Value: str


@dataclass(kw_only=True)
class Book:
    """The bookkeeping every resource has: its tags (AddTags, ListTags; IAM's resource tags)."""

    tags: list[Tag] = field(default_factory=list)


@dataclass(kw_only=True)
class TuningJobBook(Book):
    # its training jobs name it by this: a name can be reused once its job is deleted, and the
    # deleted job's training jobs stay
    id: str
    # the runtime consumed before the backend's last stop: downtime does not count against
    # ResourceLimits.MaxRuntimeInSeconds
    runtime_seconds: float = 0.0


@dataclass(kw_only=True)
class TrainingJobBook(Book):
    """A standalone training job's (CreateTrainingJob) is its tags; a tuning job's training job
    also carries what HyperParameterTrainingJobSummary answers and the tuning job's scheduler needs."""

    tuning_job_name: str | None = None
    tuning_job_id: str | None = None  # TuningJobBook.id of the job that launched it; None: standalone
    definition_name: str | None = None  # the TrainingJobDefinitions entry that launched it
    tuned: dict[str, str] = field(default_factory=dict)  # its tuned hyperparameters
    objective_metric: str | None = None
    objective_type: str | None = None
    objective_status: ObjectiveStatus = "Pending"
    objective_value: float | None = None
    # interrupted by a backend stop: a RetryableError, not counted against the tuning job's budget
    retryable: bool = False

    @property
    def standalone(self) -> bool:
        return self.tuning_job_id is None


@dataclass(kw_only=True)
class EndpointBook(Book):
    """An endpoint being created or updated goes InService with ``pending_config`` once
    ``ready_at`` has passed; a failed update returns it to ``rollback_config`` (None: it fails)."""

    ready_at: float
    pending_config: str
    rollback_config: str | None = None


BookT = TypeVar("BookT", bound=Book)


@dataclass
class Stored(Generic[BookT]):
    """A resource as the store keeps it."""

    fields: Record  # the members its Describe answers with, in wire form
    book: BookT


class Kind(str, Generic[BookT]):
    """A kind of resource, spelled as the resource type of its ARNs; ``book`` types its bookkeeping."""

    book: type[BookT]

    def __new__(cls, resource_type: str, book: type[BookT]) -> Kind[BookT]:
        kind = super().__new__(cls, resource_type)
        kind.book = book
        return kind

    def __reduce__(self) -> tuple[Any, ...]:  # copied or pickled, a kind keeps its book
        return (Kind, (str(self), self.book))


TuningJob = Stored[TuningJobBook]
TrainingJob = Stored[TrainingJobBook]

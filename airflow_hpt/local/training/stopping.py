"""StopTrainingJob's one rule, for a standalone training job and a tuning job's alike."""

from __future__ import annotations

from airflow_hpt.local.state.store import Record


def check_stoppable(record: Record | None) -> Record:
    """The training job's record, if SageMaker would stop it: only an InProgress job can be stopped.

    Raises ValueError with SageMaker's message otherwise (``None``: the job went away meanwhile).
    """
    if record is None or record["TrainingJobStatus"] != "InProgress":
        status = record["TrainingJobStatus"] if record else "deleted"
        raise ValueError(f"The request was rejected because the training job is in status {status}.")
    return record

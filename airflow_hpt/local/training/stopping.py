"""StopTrainingJob's one rule, for a standalone training job and a tuning job's alike."""

from __future__ import annotations

from airflow_hpt.local.state.records import TrainingJob


def check_stoppable(job: TrainingJob | None) -> TrainingJob:
    """The training job, if SageMaker would stop it: only an InProgress job can be stopped.

    Raises ValueError with SageMaker's message otherwise (``None``: the job went away meanwhile).
    """
    if job is None or job.fields["TrainingJobStatus"] != "InProgress":
        status = job.fields["TrainingJobStatus"] if job else "deleted"
        raise ValueError(f"The request was rejected because the training job is in status {status}.")
    return job

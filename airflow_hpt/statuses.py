"""The statuses in which a SageMaker job has ended, by kind of job. No Airflow or boto3 import.

From the status enums of botocore's service model for SageMaker (tests/unit/test_statuses.py
checks them against it):

- ``HyperParameterTuningJobStatus``: Completed, InProgress, Failed, Stopped, Stopping, Deleting,
  DeleteFailed. A tuning job whose deletion failed has ended: nothing runs for it any more.
- ``TrainingJobStatus``: InProgress, Completed, Failed, Stopping, Stopped, Deleting.
- ``TransformJobStatus``: InProgress, Completed, Failed, Stopping, Stopped.
"""

from __future__ import annotations

TUNING_JOB_ENDED = frozenset({"Completed", "Failed", "Stopped", "DeleteFailed"})
# training jobs and transform jobs alike
TRAINING_JOB_ENDED = frozenset({"Completed", "Failed", "Stopped"})

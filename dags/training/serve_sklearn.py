"""SageMaker inference script for the model ``train_sklearn.py`` saves (``model.joblib``).

Runs unchanged in SageMaker's scikit-learn serving container and on the local backend: only
``model_fn`` is needed, the container's defaults do the rest (CSV or JSON rows of 64 pixel values in,
``model.predict``, the predicted digits out as JSON or CSV, as the ``Accept`` header asks).
"""

from __future__ import annotations

import os
from typing import Any

import joblib


def model_fn(model_dir: str) -> Any:
    return joblib.load(os.path.join(model_dir, "model.joblib"))

"""Inference code for the model of dags/training/train_sklearn.py that also takes one record per
request (a batch transform's SingleRecord): the container's CSV decoder makes a single line a 1-D
array, which scikit-learn refuses, so input_fn makes every body a 2-D array of rows."""

import io
import os

import joblib
import numpy as np


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(body, content_type):
    text = body.decode() if isinstance(body, bytes) else body
    return np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype=np.float32)

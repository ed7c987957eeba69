"""Inference code for the model of dags/training/train_sklearn.py: only model_fn, as the
scikit-learn serving container needs; the container's defaults decode, predict and encode."""

import os

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

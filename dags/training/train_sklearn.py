"""SageMaker script-mode training script: a linear classifier trained by SGD, one epoch at a time.

Runs unchanged on SageMaker (a scikit-learn framework container) and on the local backend.

Hyperparameters (command-line arguments, all optional):
  --alpha          regularisation strength (float > 0), e.g. a Logarithmic range 1e-6..1e-1
  --eta0           initial learning rate (float > 0)
  --learning-rate  constant | optimal | invscaling | adaptive
  --loss           hinge | log_loss | modified_huber
  --penalty        l2 | l1 | elasticnet
  --epochs         passes over the training data (int), the resource Hyperband allocates
  --seed           shuffling seed (int)

Data: CSV files in the ``train`` channel (``SM_CHANNEL_TRAIN``; label in the first column, no
header, as SageMaker's CSV convention), validated on the ``validation`` channel when given, else
on a held-out fifth of the training data. Without a ``train`` channel the digits data set that
ships inside scikit-learn is used (no download).

Metrics, one line per epoch, for MetricDefinitions (and so for early stopping and Hyperband):
  epoch=<n> validation:accuracy=<v> train:loss=<v>
  {"Name": "validation:accuracy", "Regex": "validation:accuracy=([0-9.]+)"}

Model: ``$SM_MODEL_DIR/model.joblib``, a fitted scikit-learn Pipeline (scaler + classifier), saved
after every epoch before its metric line: a job stopped early (SIGTERM from early stopping, a Stop
call or MaxRuntimeInSeconds) keeps the model of the last epoch it reported, which SageMaker uploads.
A tuning job's best training job may be one stopped early, so its model must exist.
"""

from __future__ import annotations

import argparse
import glob
import os

import joblib
import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

VALIDATION_SHARE = 0.2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--eta0", type=float, default=0.01)
    parser.add_argument("--learning-rate", default="optimal")
    parser.add_argument("--loss", default="log_loss")
    parser.add_argument("--penalty", default="l2")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    # SageMaker may pass hyperparameters this script does not know (e.g. from a shared template)
    args, _unknown = parser.parse_known_args()
    return args


def read_csv_channel(folder: str) -> tuple[np.ndarray, np.ndarray] | None:
    files = sorted(glob.glob(os.path.join(folder, "**", "*.csv"), recursive=True))
    if not files:
        return None
    table = np.vstack([np.loadtxt(name, delimiter=",", ndmin=2) for name in files])
    return table[:, 1:], table[:, 0]


def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    features, labels = load_digits(return_X_y=True)
    return features, labels


def split(
    features: np.ndarray, labels: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(len(order) * (1 - VALIDATION_SHARE))
    train, held_out = order[:cut], order[cut:]
    return features[train], labels[train], features[held_out], labels[held_out]


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train = read_csv_channel(args.train) if args.train else None
    if train is None:
        return split(*bundled_digits(), seed=0)
    validation = read_csv_channel(args.validation) if args.validation else None
    if validation is None:
        return split(*train, seed=0)
    return train[0], train[1], validation[0], validation[1]


def save_model(pipeline: object, model_dir: str) -> None:
    """Written whole or not at all: a stop arriving mid-write leaves the previous epoch's model."""
    path = os.path.join(model_dir, "model.joblib")
    joblib.dump(pipeline, path + ".partial")
    os.replace(path + ".partial", path)


def main() -> None:
    args = parse_args()
    x_train, y_train, x_val, y_val = load_data(args)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    classes = np.unique(np.concatenate([y_train, y_val]))
    model = SGDClassifier(
        alpha=args.alpha,
        eta0=args.eta0,
        learning_rate=args.learning_rate,
        loss=args.loss,
        penalty=args.penalty,
        random_state=args.seed,
    )
    shuffle = np.random.default_rng(args.seed)
    os.makedirs(args.model_dir, exist_ok=True)
    for epoch in range(args.epochs):
        order = shuffle.permutation(len(y_train))
        model.partial_fit(x_train[order], y_train[order], classes=classes)
        save_model(make_pipeline(scaler, model), args.model_dir)
        accuracy = model.score(x_val, y_val)
        line = f"epoch={epoch} validation:accuracy={accuracy:.4f}"
        if hasattr(model, "predict_proba"):
            line += f" train:loss={log_loss(y_train, model.predict_proba(x_train), labels=classes):.4f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()

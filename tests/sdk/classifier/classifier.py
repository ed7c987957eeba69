"""An SKLearn entry point for the SDK's fit -> deploy -> predict flow: it trains when run as a
script and serves when imported, as SageMaker's scikit-learn containers use one file for both.

Training reads ``train.csv`` from the ``train`` channel (label first, then the features, no header),
fits a logistic regression and saves it with joblib in ``SM_MODEL_DIR``; ``model_fn`` loads it.
"""

import argparse
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

MODEL_FILE = "model.joblib"


def model_fn(model_dir: str) -> LogisticRegression:
    return joblib.load(os.path.join(model_dir, MODEL_FILE))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
    args, _ = parser.parse_known_args()
    data = np.loadtxt(os.path.join(args.train, "train.csv"), delimiter=",", ndmin=2)
    labels, features = data[:, 0].astype(int), data[:, 1:]
    model = LogisticRegression(C=args.C).fit(features, labels)
    print(f"train_accuracy={model.score(features, labels):.4f}", flush=True)
    joblib.dump(model, os.path.join(args.model_dir, MODEL_FILE))


if __name__ == "__main__":
    main()

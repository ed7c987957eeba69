"""Stage the demo's data: scikit-learn's bundled digits as CSV in the local backend's S3.

``retrain_weekly`` trains on the CSV files under its ``data_uri`` param (SageMaker's CSV
convention: label first, no header) and smoke-tests the deployed endpoint on those under its
``holdout_uri``: digits no training job sees. The demo and the docker-compose backend service put
both there first: ``python -m airflow_hpt.demo.data --home DIR [--uri ...] [--holdout-uri ...]``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

# retrain_weekly's default data_uri and holdout_uri params
DEFAULT_DATA_URI = "s3://airflow-hpt-demo/digits/train/"
DEFAULT_HOLDOUT_URI = "s3://airflow-hpt-demo/digits/holdout/"
# digits kept out of training, for checking the deployed model (of 1797)
HOLDOUT_ROWS = 200
HOLDOUT_SEED = 2026


def stage_digits(home: Path, uri: str = DEFAULT_DATA_URI, holdout_uri: str = DEFAULT_HOLDOUT_URI) -> Path:
    """Write the digits data set as ``digits.csv`` under ``uri`` in the local store of ``home``, but
    for :data:`HOLDOUT_ROWS` digits chosen at random (a fixed seed), written under ``holdout_uri``.

    Returns the training file's local path. Idempotent: the same bytes are written each time.
    """
    import numpy as np
    from sklearn.datasets import load_digits

    from airflow_hpt.local.s3.paths import LocalS3

    features, labels = load_digits(return_X_y=True)
    table = np.column_stack([labels, features])
    order = np.random.default_rng(HOLDOUT_SEED).permutation(len(table))
    parts = {uri: table[np.sort(order[HOLDOUT_ROWS:])], holdout_uri: table[np.sort(order[:HOLDOUT_ROWS])]}
    store = LocalS3(home)
    with tempfile.TemporaryDirectory() as scratch:
        csv = Path(scratch) / "digits.csv"
        for prefix, rows in parts.items():
            np.savetxt(csv, rows, fmt="%d", delimiter=",")
            store.upload(csv, prefix.rstrip("/") + "/")
    return store.path_for(uri.rstrip("/") + "/digits.csv")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="the local backend's home folder")
    parser.add_argument("--uri", default=DEFAULT_DATA_URI, help="S3 prefix to write digits.csv under")
    parser.add_argument(
        "--holdout-uri", default=DEFAULT_HOLDOUT_URI, help="S3 prefix for the held-out digits.csv"
    )
    args = parser.parse_args(argv)
    print(
        f"Staged {stage_digits(Path(args.home), args.uri, args.holdout_uri)} (held out: {args.holdout_uri})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

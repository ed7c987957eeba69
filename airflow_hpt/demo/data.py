"""Stage the demo's training data: scikit-learn's bundled digits as CSV in the local backend's S3.

``retrain_weekly`` trains on the CSV files under its ``data_uri`` param (SageMaker's CSV
convention: label first, no header). The demo and the docker-compose backend service put the digits
there first: ``python -m airflow_hpt.demo.data --home DIR [--uri s3://bucket/prefix/]``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

# retrain_weekly's default data_uri param
DEFAULT_DATA_URI = "s3://airflow-hpt-demo/digits/train/"


def stage_digits(home: Path, uri: str = DEFAULT_DATA_URI) -> Path:
    """Write the digits data set as ``digits.csv`` under ``uri`` in the local store of ``home``.

    Returns the file's local path. Idempotent: the same bytes are written each time.
    """
    import numpy as np
    from sklearn.datasets import load_digits

    from airflow_hpt.local.s3 import LocalS3

    features, labels = load_digits(return_X_y=True)
    store = LocalS3(home)
    with tempfile.TemporaryDirectory() as scratch:
        csv = Path(scratch) / "digits.csv"
        np.savetxt(csv, np.column_stack([labels, features]), fmt="%d", delimiter=",")
        store.upload(csv, uri.rstrip("/") + "/")
    return store.path_for(uri.rstrip("/") + "/digits.csv")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="the local backend's home folder")
    parser.add_argument("--uri", default=DEFAULT_DATA_URI, help="S3 prefix to write digits.csv under")
    args = parser.parse_args(argv)
    print(f"Staged {stage_digits(Path(args.home), args.uri)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

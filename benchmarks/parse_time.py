"""Import cost of our operator module vs the amazon provider's SageMaker operators, on top of `import airflow`.

Each measurement runs in a fresh interpreter (so nothing is cached in sys.modules) and times only the
module import, after `import airflow` and `import airflow.sdk` are done. Prints medians and the ratio.

    .venv/bin/python benchmarks/parse_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

MODULES = {
    "airflow_hpt.operators.tuning": "ours",
    "airflow.providers.amazon.aws.operators.sagemaker": "amazon provider",
}
_PROBE = """
import time, airflow, airflow.sdk
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""


def import_seconds(module: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)], check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {module: [] for module in MODULES}
    for _ in range(args.runs):
        for module in MODULES:  # interleaved, so machine noise hits both alike
            samples[module].append(import_seconds(module))
    medians = {module: statistics.median(values) for module, values in samples.items()}
    for module, label in MODULES.items():
        print(f"{label:16} {module:52} median {medians[module] * 1000:8.1f} ms over {args.runs} runs")
    ours, theirs = medians.values()
    print(f"ratio ours/amazon: {ours / theirs:.2f}x (target <= 0.30x)")


if __name__ == "__main__":
    main()

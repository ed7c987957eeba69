"""A script-mode training script that learns from its `train` channel: the numbers in the CSV files
of SM_CHANNEL_TRAIN. loss = (x - their mean)**2, so the objective depends on the data it read."""

import argparse
import json
import os
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    # SageMaker's toolkit passes one-letter hyperparameters as "-x", longer ones as "--name"
    parser.add_argument("-x", "--x", type=float, required=True)
    parser.add_argument("--epochs", type=int, default=1)
    args, _ = parser.parse_known_args()

    files = sorted(Path(os.environ["SM_CHANNEL_TRAIN"]).rglob("*.csv"))
    values = [float(cell) for path in files for cell in path.read_text().split()]
    print(f"read {len(values)} values from {len(files)} files in the train channel", flush=True)
    mean = sum(values) / len(values)
    for epoch in range(args.epochs):
        print(f"epoch={epoch} loss={(args.x - mean) ** 2:.6f}", flush=True)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as model:
        json.dump({"x": args.x, "mean": mean}, model)


if __name__ == "__main__":
    main()

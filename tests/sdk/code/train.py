"""A script-mode training script for the SDK tests: the quadratic loss of tests/local/scripts/quadratic.py.

It reads its hyperparameters as SageMaker passes them (``--name value``), prints one ``loss=`` line
per epoch (the objective metric) and saves a model, as an SKLearn training script would.
"""

import argparse
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    # SageMaker's toolkit passes one-letter hyperparameters as "-x", longer ones as "--name"
    parser.add_argument("-x", "--x", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=2)
    args, _ = parser.parse_known_args()
    for epoch in range(args.epochs):
        loss = (args.x - 0.3) ** 2 + 1 / (epoch + 1)
        print(f"epoch={epoch} loss={loss:.6f}", flush=True)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as model:
        json.dump({"x": args.x, "loss": loss}, model)


if __name__ == "__main__":
    main()

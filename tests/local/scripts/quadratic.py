"""A tiny SageMaker script-mode training script with a known optimum.

loss(epoch) = (x - 0.3)**2 + (y - 7)**2 / 100 + penalty[kind] + 1 / (epoch + 1): minimised at
x=0.3, y=7, kind=b; the loss falls epoch after epoch, so early stopping has a curve to judge.

``--hold PATH``: after each epoch (its model saved) wait until PATH exists. A test that needs a job
still running, or a model saved, holds it so and releases it (``touch``) when it may go on: no race
with the job's natural end, however slow the machine.
"""

import argparse
import json
import os
import sys
import time

PENALTY = {"a": 0.5, "b": 0.0, "c": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    # one-letter hyperparameters come as -x: the toolkit passes them so, as on SageMaker
    parser.add_argument("-x", "--x", type=float, default=0.0)
    parser.add_argument("-y", "--y", type=int, default=0)
    parser.add_argument("--kind", default="a")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.0)
    # "true": exit 1 with a message; "file": also write SageMaker's output/failure file
    parser.add_argument("--fail", default="false")
    parser.add_argument("--hold", default="")
    args, _ = parser.parse_known_args()

    # the toolkit JSON-decodes hyperparameters: "true" arrives as "True", as on SageMaker
    if args.fail.lower() in ("true", "file"):
        print("preparing to fail", flush=True)
        if args.fail == "file":
            with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as failure:
                failure.write("quadratic: asked to fail (failure file)")
        print("quadratic: asked to fail", file=sys.stderr)
        sys.exit(1)

    base = (args.x - 0.3) ** 2 + (args.y - 7) ** 2 / 100 + PENALTY[args.kind]
    for epoch in range(args.epochs):
        if args.sleep:
            time.sleep(args.sleep)
        loss = base + 1 / (epoch + 1)
        print(f"epoch={epoch} loss={loss:.6f}")
        # saved every epoch: a stopped job keeps the last model, as SageMaker keeps its artifacts
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as model:
            json.dump({"x": args.x, "y": args.y, "kind": args.kind, "epoch": epoch, "loss": loss}, model)
        while args.hold and not os.path.exists(args.hold):
            time.sleep(0.05)


if __name__ == "__main__":
    main()

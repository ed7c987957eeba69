"""Writes the arguments, the SM_* environment and the channel files it sees to its model folder."""

import json
import os
import sys

model_dir = os.environ["SM_MODEL_DIR"]
seen = {
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "env": {
        k: v
        for k, v in os.environ.items()
        if k.startswith(("SM_", "SAGEMAKER_", "PYTHON", "TRAINING_", "EXTRA_"))
    },
    "channels": {
        name: sorted(os.listdir(os.environ["SM_CHANNEL_" + name.upper()]))
        for name in json.loads(os.environ["SM_CHANNELS"])
    },
}
with open(os.path.join(model_dir, "seen.json"), "w") as out:
    json.dump(seen, out)
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "extra.txt"), "w") as out:
    out.write("output data")
print("validation:accuracy=0.5 train:loss=1.5")
print("validation:accuracy=0.75 train:loss=not-a-number")

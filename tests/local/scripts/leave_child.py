"""Exits at once but leaves a child holding its output: in its group, or escaped with setsid."""

import argparse
import subprocess
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--escape", default="false")
args, _ = parser.parse_known_args()
# the toolkit JSON-decodes hyperparameters: "true" arrives as "True", as on SageMaker
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=args.escape.lower() == "true"
)
print(f"child={child.pid}", flush=True)

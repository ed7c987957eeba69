"""Starts a long-lived child process, prints its pid and waits: a stop must end both."""

import subprocess
import sys
import time

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print(f"child={child.pid}", flush=True)
time.sleep(300)

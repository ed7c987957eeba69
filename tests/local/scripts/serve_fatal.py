"""Inference code whose model server dies (SIGKILL, as an OOM kill or a segfault) on a request
whose body is ``die``; it answers ``alive`` to any other. Each call appends its body to the file
named by ``CALLS_FILE``, so a test can count how often a request reached the model."""

import os
import signal


def model_fn(model_dir):
    return None


def transform_fn(model, data, content_type, accept):
    body = bytes(data).decode()
    with open(os.environ["CALLS_FILE"], "a") as calls:
        calls.write(f"{body}\n")
    if body == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return "alive", "text/plain"

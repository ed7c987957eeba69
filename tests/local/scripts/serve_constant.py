"""Inference code of a test model: model.json holds {"answer": <value>}; every row gets that answer.

predict_fn prints how many rows it answers, as a script's own logging would (no flush: the
serving container's PYTHONUNBUFFERED must get it to the log as it is printed).

output_fn takes the request context (as the serving toolkit allows) to echo the request's
CustomAttributes back in the response's."""

import json
import os

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.json")) as handle:
        return json.load(handle)


def predict_fn(data, model):
    print(f"serve_constant: answering {len(data)} rows")
    return [model["answer"]] * len(data)


def output_fn(prediction, accept, context):
    attributes = context.get_request_header(0, CUSTOM_ATTRIBUTES)
    if attributes:
        context.set_response_header(0, CUSTOM_ATTRIBUTES, f"echo:{attributes}")
    return json.dumps({"predictions": prediction}), "application/json"

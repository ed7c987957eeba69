"""Inference code whose model_fn fails, as a model archive missing its weights would."""


def model_fn(model_dir):
    raise ValueError("the model archive has no weights")

"""The demo's last word: the deployed endpoint's predictions on digits no training job saw."""

from __future__ import annotations

from typing import Any

from airflow_hpt.predictions import CSV, JSON, Score, csv_body, parse_predictions, read_labelled_csv

# rows shown one by one; the accuracy is over all of them
SHOWN = 12


def read_holdout(s3: Any, uri: str) -> str:
    """The CSV objects under ``uri``, concatenated (an S3 client on the backend)."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    keys = sorted(item["Key"] for item in listing if item["Key"].endswith(".csv"))
    if not keys:
        raise FileNotFoundError(f"no .csv object under {uri}")
    return "\n".join(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode() for key in keys)


def predict_holdout(runtime: Any, s3: Any, endpoint_name: str, holdout_uri: str) -> Score:
    """Every held-out digit through ``InvokeEndpoint`` in one CSV request, scored."""
    rows = read_labelled_csv(read_holdout(s3, holdout_uri))
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint_name, ContentType=CSV, Accept=JSON, Body=csv_body(rows.features)
    )
    return Score(rows.labels, parse_predictions(answer["Body"].read(), expected=len(rows.labels)))


def render_predictions(endpoint_name: str, score: Score, shown: int = SHOWN) -> str:
    examples = score.examples(shown)
    width = max(len("true digit"), len("predicted"))
    true_row = " ".join(f"{example['label']:2.0f}" for example in examples)
    predicted_row = " ".join(
        f"{example['predicted']:2.0f}"
        if example["predicted"] == example["label"]
        else f"{example['predicted']:1.0f}!"
        for example in examples
    )
    total = len(score.labels)
    # the legend only when a mark needs it: after a row of right answers it would read as an error
    legend = "   (! marks a wrong answer)" if "!" in predicted_row else ""
    return "\n".join(
        [
            f"Predictions of {endpoint_name} on {total} held-out digits (InvokeEndpoint), the first {len(examples)}:",
            f"  {'true digit':<{width}} | {true_row}",
            f"  {'predicted':<{width}} | {predicted_row}{legend}",
            f"Held-out accuracy: {score.accuracy:.4f} ({score.correct} of {total} right)",
        ]
    )

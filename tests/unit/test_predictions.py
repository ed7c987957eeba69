"""Scoring an endpoint's answers on labelled rows (the smoke test of retrain_weekly, the demo)."""

from __future__ import annotations

import pytest

from airflow_hpt.predictions import MalformedAnswer, Score, csv_body, parse_predictions, read_labelled_csv


def test_labelled_rows_split_into_label_and_features() -> None:
    rows = read_labelled_csv("3,0,16,5\n7,1,2,3\n\n1,0,0,9\n", limit=2)
    assert rows.labels == [3.0, 7.0]
    assert rows.features == [[0.0, 16.0, 5.0], [1.0, 2.0, 3.0]]
    assert csv_body(rows.features) == "0,16,5\n1,2,3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("label,a,b\n3,1,2\n", "row 1: not a number"),
        ("3,1,2\n4\n", r"row 2: a label and at least one feature expected"),
        ("\n", "no labelled rows"),
    ],
)
def test_bad_rows_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_labelled_csv(text)


@pytest.mark.parametrize("body", [b"[3.0, 7, 1.0]", b"[[3.0], [7.0], [1]]", "[3, 7, 1]"])
def test_one_prediction_per_row(body: bytes | str) -> None:
    assert parse_predictions(body, expected=3) == [3.0, 7.0, 1.0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"3\n7\n1\n", "not JSON"),
        (b'{"predictions": [3, 7, 1]}', "not a list of predictions"),
        (b"[3, 7]", "2 predictions for 3 rows"),
        (b'[3, "seven", 1]', "prediction 1 is not a number: 'seven'"),
        (b"[3, true, 1]", "prediction 1 is not a number: True"),
        (b"[3, [7, 0.1], 1]", r"prediction 1 is not a number: \[7, 0.1\]"),
        (b"[3, NaN, 1]", "prediction 1 is not a number: nan"),
    ],
)
def test_a_malformed_answer_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(MalformedAnswer, match=message):
        parse_predictions(body, expected=3)


def test_score() -> None:
    score = Score([3.0, 7.0, 1.0, 0.0], [3.0, 1.0, 1.0, 0.0])
    assert (score.correct, score.accuracy) == (3, 0.75)
    assert score.examples(2) == [{"label": 3.0, "predicted": 3.0}, {"label": 7.0, "predicted": 1.0}]

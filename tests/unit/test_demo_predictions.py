"""The demo's prediction rows: wrong answers are marked, and only then is the mark explained."""

from __future__ import annotations

from airflow_hpt.demo.holdout import render_predictions
from airflow_hpt.predictions import Score


def test_all_right_answers_carry_no_mark_and_no_legend() -> None:
    text = render_predictions("digits", Score([3.0, 1.0, 4.0], [3.0, 1.0, 4.0]))
    predicted = next(line for line in text.splitlines() if line.lstrip().startswith("predicted"))
    assert predicted == "  predicted  |  3  1  4"
    assert "!" not in text


def test_a_wrong_answer_is_marked_and_the_mark_explained() -> None:
    text = render_predictions("digits", Score([3.0, 1.0, 4.0], [3.0, 7.0, 4.0]))
    predicted = next(line for line in text.splitlines() if line.lstrip().startswith("predicted"))
    assert predicted == "  predicted  |  3 7!  4   (! marks a wrong answer)"
    assert "Held-out accuracy: 0.6667 (2 of 3 right)" in text

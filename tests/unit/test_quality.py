from __future__ import annotations

from airflow_hpt.quality import Champion, champion_from_tags, decide, model_tags

RESULT = {
    "tuning_job_name": "tune-1",
    "best_training_job_name": "tune-1-002-abcdef12",
    "objective_metric": "validation:accuracy",
    "objective_type": "Maximize",
    "objective_value": 0.91,
}


def test_threshold_for_maximize_and_minimize() -> None:
    assert decide(RESULT, min_objective=0.9, champion=None).deploy
    closed = decide(RESULT, min_objective=0.95, champion=None)
    assert not closed.deploy and "not at least the threshold 0.95" in closed.reason
    loss = {**RESULT, "objective_metric": "loss", "objective_type": "Minimize", "objective_value": 0.2}
    assert decide(loss, min_objective=0.3, champion=None).deploy
    assert "not at most" in decide(loss, min_objective=0.1, champion=None).reason


def test_champion_must_be_beaten() -> None:
    worse = decide(RESULT, min_objective=None, champion=Champion("old", "validation:accuracy", 0.93))
    assert not worse.deploy and "does not beat the champion old (0.93)" in worse.reason
    better = decide(RESULT, min_objective=0.5, champion=Champion("old", "validation:accuracy", 0.90))
    assert better.deploy and "beats the champion" in better.reason
    tie = decide(RESULT, min_objective=None, champion=Champion("old", "validation:accuracy", 0.91))
    assert not tie.deploy


def test_no_objective_never_deploys() -> None:
    assert not decide({**RESULT, "objective_value": None}, min_objective=None, champion=None).deploy


def test_model_tags_round_trip_to_champion() -> None:
    tags = {tag["Key"]: tag["Value"] for tag in model_tags(RESULT)}
    champion = champion_from_tags("m", tags)
    assert champion == Champion("m", "validation:accuracy", 0.91)
    assert champion_from_tags("m", {}) is None

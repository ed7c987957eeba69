"""The local backend's store: what a query on its live records answers."""

from __future__ import annotations

from pathlib import Path

from airflow_hpt.local.state.records import Stored, TuningJobBook
from airflow_hpt.local.state.store import TUNING_JOBS, Store


def test_a_query_runs_on_the_live_records_and_answers_with_copies(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for name, limit in (("Job-A", 1), ("job-b", 2)):
        store.put(
            TUNING_JOBS,
            name,
            Stored(fields={"Name": name, "Limits": {"Max": limit}}, book=TuningJobBook(id=name)),
        )

    answer = store.query(TUNING_JOBS, lambda records: [r["Limits"] for r in records if r["Name"] == "Job-A"])

    assert answer == [{"Max": 1}]
    answer[0]["Max"] = 99  # the caller's copy: the stored record keeps its value
    assert store.get(TUNING_JOBS, "job-a") == {"Name": "Job-A", "Limits": {"Max": 1}}
    assert store.query(TUNING_JOBS, len) == 2

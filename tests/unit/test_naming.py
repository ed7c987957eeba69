from __future__ import annotations

import regex

from airflow_hpt.naming import (
    MAX_NAME_LENGTH,
    TAG_FINGERPRINT,
    derive_job_name,
    fingerprint_of,
    ownership_tags,
    with_tags,
)

NAME_PATTERN = regex.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")


def test_derived_name_is_valid_readable_and_stable() -> None:
    name = derive_job_name("retrain_weekly", "tune", "scheduled__2026-11-23T00:00:00+00:00", -1)
    assert NAME_PATTERN.fullmatch(name)
    assert len(name) <= MAX_NAME_LENGTH
    assert name.startswith("retrain-weekly-tune-")
    assert name == derive_job_name("retrain_weekly", "tune", "scheduled__2026-11-23T00:00:00+00:00", -1)


def test_derived_names_differ_per_task_instance() -> None:
    base = ("a_very_long_dag_id_that_will_be_cut_short", "a_long_task_id", "manual__1", -1)
    names = {
        derive_job_name(*base),
        derive_job_name(base[0], base[1], "manual__2", -1),
        derive_job_name(base[0], base[1], base[2], 0),
        derive_job_name(base[0], base[1], base[2], 1),
        derive_job_name(base[0], "other_task", base[2], -1),
        derive_job_name("other_dag", base[1], base[2], -1),
    }
    assert len(names) == 6
    for name in names:
        assert NAME_PATTERN.fullmatch(name) and len(name) <= MAX_NAME_LENGTH


def test_derived_name_from_ids_without_usable_characters() -> None:
    name = derive_job_name("___", "...", "r", -1)
    assert name.startswith("hpt-")
    assert NAME_PATTERN.fullmatch(name)


def test_with_tags_keeps_user_tags_and_replaces_stale_ownership_tags() -> None:
    request = {"Tags": [{"Key": "team", "Value": "ml"}, {"Key": TAG_FINGERPRINT, "Value": "stale"}]}
    tags = ownership_tags("d", "t", "r", -1, "fresh", "d.t")
    tagged = with_tags(request, tags)
    assert tagged["Tags"][0] == {"Key": "team", "Value": "ml"}
    assert fingerprint_of(tagged["Tags"]) == "fresh"
    assert len(tagged["Tags"]) == 1 + len(tags)
    assert request["Tags"][1]["Value"] == "stale", "the input request is not mutated"


def test_fingerprint_of_untagged_job_is_none() -> None:
    assert fingerprint_of([{"Key": "team", "Value": "ml"}]) is None

"""The rule registry is the single source of severities and evidence; docs/request.md's table mirrors it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from airflow_hpt.request import check_request, refusals
from airflow_hpt.request.evidence import RULES

ROOT = Path(__file__).resolve().parents[2]
TABLE_ROW = re.compile(
    r"^\| `(?P<id>[a-z0-9-]+)` \| (?P<checks>[^|]+) \| (?P<verdict>[a-z]+) \| (?P<source>[^|]+) \|$"
)
# What counts as evidence that SageMaker refuses: its API reference, its service model, or its
# own answer quoted in a public issue.
EVIDENCE = re.compile(
    r"docs\.aws\.amazon\.com/sagemaker/latest/APIReference/|botocore's sagemaker service model|github\.com/[^ ]+/issues/\d+"
)


def documented_rules() -> dict[str, tuple[str, str, str]]:
    text = (ROOT / "docs" / "request.md").read_text()
    rows = [TABLE_ROW.match(line) for line in text.splitlines()]
    return {m["id"]: (m["checks"].strip(), m["verdict"], m["source"].strip()) for m in rows if m}


def test_the_docs_table_is_the_registry() -> None:
    expected = {rule.id: (rule.checks, rule.severity, rule.source) for rule in RULES.values()}
    assert documented_rules() == expected


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_every_rule_has_a_source_and_every_refusal_evidence(rule) -> None:  # type: ignore[no-untyped-def]
    assert rule.severity in ("refusal", "warning")
    assert rule.source.strip()
    if rule.severity == "refusal":
        assert EVIDENCE.search(rule.source), f"{rule.id} refuses without evidence: {rule.source}"


def test_every_registered_rule_is_used_by_the_validator() -> None:
    """A rule in the table that no code raises would be a claim without a check."""
    code = "".join(
        (ROOT / "airflow_hpt" / "request" / name).read_text()
        for name in ("rules.py", "ranges.py", "definitions.py")
    )
    unused = [rule_id for rule_id in RULES if rule_id != "service-model" and f'"{rule_id}"' not in code]
    assert unused == []


def test_check_request_gives_every_problem_its_registered_severity() -> None:
    request = json.loads((ROOT / "tests" / "unit" / "corpus" / "base_request.json").read_text())
    config = request["HyperParameterTuningJobConfig"]
    config["Strategy"] = "Sideways"  # the service model: a refusal
    del config["ResourceLimits"]["MaxNumberOfTrainingJobs"]  # no evidence SageMaker refuses: a warning
    _normalized, problems = check_request(request)
    assert [(p.rule_id, p.severity) for p in problems] == [
        ("service-model", "refusal"),
        ("max-jobs-given", "warning"),
    ]
    assert [p.rule_id for p in refusals(problems, "strict")] == ["service-model"]
    assert refusals(problems, "warn") == []
    with pytest.raises(ValueError, match="validation must be one of strict, warn"):
        refusals(problems, "lenient")  # type: ignore[arg-type]

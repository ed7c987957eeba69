"""What the test DAGs over the request templates share: their run params, and the local quadratic
template as a dict for a DAG to change.

Imported as `tests.dags.template_requests`: the tests' DAG files live in different dags folders
(`testing/` under the suite's, flat in tests/realprocs'), and the repository root is on the path of
every process that parses them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum

START = pendulum.datetime(2026, 1, 1, tz="UTC")
LOCAL_QUADRATIC = "templates/local_quadratic.json.j2"
MOTO_REQUEST = "templates/moto_request.json.j2"
MOTO_PARAMS: dict[str, Any] = {
    "strategy": "Bayesian",
    "max_jobs": "6",
    "max_parallel": 2,
    "eta_min": 0.01,
    "rounds": 50,
    "note": "weekly",
    "team": "ml",
}


def quadratic_params(**overrides: Any) -> dict[str, Any]:
    """Run params of the local quadratic template; `scripts` must come as run conf (the file:// URI
    of tests/local/scripts)."""
    return {
        "scripts": "file:///nonexistent",
        "max_jobs": 2,
        "parallel": 2,
        "epochs": 1,
        "sleep": 0,
        "fail": "false",
        **overrides,
    }


def quadratic_request() -> dict[str, Any]:
    """The local quadratic template, parsed (its placeholders left for the operator to render)."""
    request: dict[str, Any] = json.loads((Path(__file__).parent / LOCAL_QUADRATIC).read_text())
    return request


def held_quadratic_request() -> dict[str, Any]:
    """The local quadratic request whose training jobs keep running until the file `params.hold`
    exists (quadratic.py --hold): a test can then act on a job surely still running."""
    request = quadratic_request()
    request["TrainingJobDefinition"]["StaticHyperParameters"]["hold"] = "{{ params.hold }}"
    return request

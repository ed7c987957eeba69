"""README's "Run it locally in five minutes" and the quick start's run, as a reader types them:
the backend in one shell, its printed export lines pasted into a second, which runs the rest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.docs.blocks import named
from tests.docs.conftest import Background, run_block

pytestmark = pytest.mark.slow  # two DAG runs that really tune (and deploy), a minute or two each

PASTE_HERE = re.compile(r"^# paste the backend's export lines here.*$", re.MULTILINE)


def test_a_reader_runs_the_example_dag_then_the_quick_start_on_the_local_backend(
    reader_dir: Path, background: list[Background]
) -> None:
    # the venv the README creates is this one: its activation is the only line not run
    backend_text = named("walkthrough-backend").text.replace(". .venv/bin/activate\n", "")
    # a free port instead of 4599: other suites may run on this machine at the same time
    server = Background(backend_text.replace("--port 4599", "--port 0"), reader_dir)
    background.append(server)
    server.wait_for_line("the last export line", "export AWS_DEFAULT_REGION=")
    exports = [line for line in server.lines if line.startswith("export ")]
    assert [line.split("=")[0] for line in exports] == [
        "export AIRFLOW_CONN_AWS_DEFAULT",
        "export AWS_ACCESS_KEY_ID",
        "export AWS_SECRET_ACCESS_KEY",
        "export AWS_ENDPOINT_URL",
        "export AWS_DEFAULT_REGION",
    ]

    walkthrough = named("walkthrough").text.replace(". .venv/bin/activate\n", "")
    assert PASTE_HERE.search(walkthrough), "the walkthrough no longer says where to paste"
    pasted = PASTE_HERE.sub(lambda _: "\n".join(exports), walkthrough)
    # the quick start's commands run in the same terminal, after the walkthrough; then the runs' states
    script = f"{pasted}\n{named('quickstart-run').text}\n"
    script += "airflow dags list-runs retrain_weekly -o json > runs-retrain.json\n"
    script += "airflow dags list-runs quickstart -o json > runs-quickstart.json\n"
    done = run_block(script, reader_dir)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"

    for dag_id in ("retrain_weekly", "quickstart"):
        # Airflow's CLI logs warnings (graphviz...) on stdout before the JSON
        listed = (reader_dir / f"runs-{dag_id.split('_')[0]}.json").read_text().splitlines()[-1]
        (run,) = json.loads(listed)
        assert run["state"] == "success", (dag_id, run)
    # the AWS CLI's table of tuning jobs, then the quick start's best training job
    assert re.search(r"\|\s+retrain-weekly-tune-[0-9a-f]+\s+\|\s+Completed\s+\|", done.stdout), done.stdout
    best = json.loads(done.stdout[done.stdout.rindex("{", 0, done.stdout.index('"TrainingJobName"')) :])
    assert best["TrainingJobName"].startswith("quickstart-tune-")
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == "validation:accuracy"

"""README's quick start, validate and budget examples, run as written; shown output must be the real one."""

from __future__ import annotations

import json
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT, following, named
from tests.docs.conftest import Background, run_block


def test_the_quick_start_is_the_shipped_dag_word_for_word() -> None:
    assert named("quickstart").text == (ROOT / "dags" / "quickstart.py").read_text()


@pytest.mark.slow  # about 13 s: the CLI run once per shipped template
def test_the_validate_commands_pass_on_the_shipped_templates(reader_dir: Path) -> None:
    block = named("validate")
    done = run_block(block.text, reader_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "dags/templates/retrain_request.json.j2: OK",
        "dags/templates/tune_and_deploy_request.json.j2: OK",
    ]


def test_show_prints_the_stand_ins_it_documents(reader_dir: Path) -> None:
    block = named("validate-show")
    done = run_block(block.text, reader_dir)
    assert done.returncode == 0, done.stderr
    # stderr also holds what Airflow logs while loading the DAG; the documented lines come last
    shown = following(block).text.splitlines()
    assert done.stderr.splitlines()[-len(shown) :] == shown
    request = json.loads((reader_dir / "request.json").read_text())
    output = request["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"]
    assert output == "s3://airflow-hpt-demo/models/retrain_weekly/20261108/"


def test_the_budget_example_prints_what_the_readme_shows(reader_dir: Path) -> None:
    block = named("budget")
    done = run_block(block.text, reader_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == following(block).text


def test_the_backend_command_serves_and_prints_the_client_settings(
    reader_dir: Path, background: list[Background]
) -> None:
    # a free port instead of 4599: other suites may run on this machine at the same time
    text = named("serve").text.replace("--port 4599", "--port 0")
    assert text != named("serve").text
    server = Background(text, reader_dir)
    background.append(server)
    server.wait_for_line("the listening line", "Local SageMaker listening on http://127.0.0.1:")
    server.wait_for_line("the connection to export", "export AIRFLOW_CONN_AWS_DEFAULT=")
    assert (reader_dir / ".local-sagemaker").is_dir()


@pytest.mark.slow  # builds the wheel in an isolated environment
def test_the_install_commands_build_a_wheel_with_the_package_metadata(tmp_path: Path) -> None:
    block = named("install")
    assert 'pip install ".[local]"' in block.text
    assert "python -m build" in block.text
    # the wheel the README's second command builds (from a copy: build writes into the tree)
    done = run_block(f"python -m build --wheel --outdir {tmp_path / 'dist'} {ROOT}", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "dist").glob("airflow_hpt-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(archive.read(next(n for n in names if n.endswith("/METADATA"))).decode())
        entry_points = archive.read(next(n for n in names if n.endswith("/entry_points.txt"))).decode()
    assert metadata["Name"] == "airflow-hpt"
    assert metadata["License-Expression"] == "Apache-2.0"
    assert set(metadata.get_all("Provides-Extra")) >= {"local", "demo", "openlineage"}
    assert "Framework :: Apache Airflow :: Provider" in metadata.get_all("Classifier")
    assert any(url.startswith("Source, https://") for url in metadata.get_all("Project-URL"))
    assert "airflow-hpt = airflow_hpt.cli:main" in entry_points
    assert "provider_info = airflow_hpt:get_provider_info" in entry_points
    assert "airflow_hpt/py.typed" in names and "airflow_hpt/local/server.py" in names

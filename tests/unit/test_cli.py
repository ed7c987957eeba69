from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.cli import main

CORPUS = Path(__file__).parent / "corpus"


def _template(tmp_path: Path) -> Path:
    request = json.loads((CORPUS / "base_request.json").read_text())
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = (
        "{{ params.max_jobs }}"
    )
    path = tmp_path / "request.json.j2"
    path.write_text(json.dumps(request))
    return path


def test_validate_ok_and_shows_the_coerced_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(_template(tmp_path)), "--param", "max_jobs=12", "--show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 12


def test_validate_lists_every_problem_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(_template(tmp_path)), "--param", "max_jobs=0"]) == 1
    err = capsys.readouterr().err
    assert "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs" in err


def _file(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    request = json.loads((CORPUS / "base_request.json").read_text())
    edit(request)
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    return path


def _hyperband_with_early_stopping(request: dict[str, Any]) -> None:
    """Refused (API reference: must be OFF with Hyperband), plus a warning (no MaxNumberOfTrainingJobs)."""
    config = request["HyperParameterTuningJobConfig"]
    config.update(Strategy="Hyperband", TrainingJobEarlyStoppingType="Auto")
    config["StrategyConfig"] = {"HyperbandStrategyConfig": {"MaxResource": 10}}
    del config["ResourceLimits"]["MaxNumberOfTrainingJobs"]


def test_strict_validation_fails_on_refusals_and_prints_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(_file(tmp_path, _hyperband_with_early_stopping))]) == 1
    err = capsys.readouterr().err
    assert "refused: HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType: must be Off" in err
    assert (
        "warning: HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs: is not given" in err
    )
    assert "1 refusal(s)" in err


def test_warn_validation_prints_every_problem_as_a_warning_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, _hyperband_with_early_stopping)
    assert main(["validate", "--validation", "warn", str(path)]) == 0
    captured = capsys.readouterr()
    assert "warning: HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType: must be Off" in captured.err
    assert "warning: HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs" in captured.err
    assert "refused" not in captured.err
    assert captured.out.strip().endswith(": OK")


def test_warnings_alone_do_not_fail_strict_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_budget(request: dict[str, Any]) -> None:
        del request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]

    assert main(["validate", str(_file(tmp_path, no_budget))]) == 0
    assert (
        "warning: HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs"
        in capsys.readouterr().err
    )


def test_validate_names_an_undefined_variable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(_template(tmp_path))]) == 1
    assert "max_jobs" in capsys.readouterr().err


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("airflow-hpt")
    done = subprocess.run(
        [str(script), "validate", str(_template(tmp_path)), "--param", "max_jobs=3"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(": OK")


def test_local_sagemaker_refuses_a_bad_policy_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"Statement": [{"Effect": "Allow", "NotAction": "sagemaker:Stop*"}]}')
    assert (
        main(["local-sagemaker", "--port", "0", "--home", str(tmp_path / "home"), "--policy", str(policy)])
        == 2
    )
    assert capsys.readouterr().err.startswith("--policy: Statement[0].NotAction: not supported")
    assert not (tmp_path / "home").exists()


def test_validate_shows_the_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = _template(tmp_path)
    assert main(["validate", str(template), "--param", "max_jobs=12", "--show-budget"]) == 0
    out = capsys.readouterr().out
    limits = json.loads((CORPUS / "base_request.json").read_text())["HyperParameterTuningJobConfig"][
        "ResourceLimits"
    ]
    assert "Worst case:" in out
    assert (
        "MaxNumberOfTrainingJobs 12 x 1 instance(s) (TrainingJobDefinition.ResourceConfig.InstanceCount)"
        in out
    )
    assert f"MaxParallelTrainingJobs {limits['MaxParallelTrainingJobs']}" in out

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"ml.m5.xlarge": 0.5}))
    assert (
        main(
            [
                "validate",
                str(template),
                "--param",
                "max_jobs=12",
                "--show-budget",
                "--instance-prices",
                str(prices),
            ]
        )
        == 0
    )
    assert "1 x ml.m5.xlarge at 0.5/h" in capsys.readouterr().out

    prices.write_text(json.dumps({"ml.m5.large": 0.1}))
    assert (
        main(
            [
                "validate",
                str(template),
                "--param",
                "max_jobs=12",
                "--show-budget",
                "--instance-prices",
                str(prices),
            ]
        )
        == 1
    )
    assert (
        "no price for ml.m5.xlarge (TrainingJobDefinition.ResourceConfig.InstanceType)"
        in capsys.readouterr().err
    )

"""Training jobs through AWS's sagemaker-training toolkit: its environment and arguments, code
from the backend's S3, and ``requirements.txt`` installed once per requirements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.training.runner import Runner, TrainingOutcome, TrainingProcess, TrainingSpec

SCRIPTS = Path(__file__).parent / "scripts"
# a tiny pure-Python package that the project's environment does not have
EXTRA_PACKAGE = "pyjokes==0.8.3"
TRAIN_WITH_EXTRA = """\
import os
import pyjokes

with open(os.path.join(os.environ["SM_MODEL_DIR"], "joke.txt"), "w") as out:
    out.write(pyjokes.get_joke())
print("loss=0.5")
"""


@pytest.fixture
def s3(tmp_path: Path) -> LocalS3:
    # the tests' code folders are in tmp_path or in the project (tests/local/scripts)
    return LocalS3(tmp_path / "home", code_roots=[tmp_path, Path.cwd()])


@pytest.fixture
def runner(tmp_path: Path, s3: LocalS3) -> Runner:
    return Runner(tmp_path / "home", s3, stop_grace_seconds=2.0, environments=tmp_path / "venvs")


def spec(name: str, program: str, submit_dir: str, **hyperparameters: str) -> TrainingSpec:
    return TrainingSpec(
        training_job_name=name,
        hyperparameters={
            "sagemaker_program": program,
            "sagemaker_submit_directory": submit_dir,
            **hyperparameters,
        },
        input_data_config=[],
        output_path="s3://out/models/",
        metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
        max_runtime_seconds=600,
    )


def finish(process: TrainingProcess, timeout: float = 300) -> TrainingOutcome:
    outcome = process.wait(timeout)
    assert outcome is not None, "training job did not finish in time"
    return outcome


def test_the_project_env_lacks_the_extra_package() -> None:
    """The requirements test below proves something only while this holds."""
    found = subprocess.run([sys.executable, "-c", "import pyjokes"], capture_output=True)
    assert found.returncode != 0


@pytest.mark.slow  # about 12 s: pip installs into the job's environment
def test_requirements_are_installed_once_per_requirements(runner: Runner, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN_WITH_EXTRA)
    (code / "requirements.txt").write_text(EXTRA_PACKAGE + "\n")

    first = finish(runner.start(spec("req-1", "train.py", str(code))))
    assert first.status == "Completed", first.failure_reason
    environments = [path for path in (tmp_path / "venvs").iterdir() if path.is_dir()]
    assert len(environments) == 1
    marker = environments[0] / ".installed"
    installed_at = marker.stat().st_mtime_ns

    second = finish(runner.start(spec("req-2", "train.py", str(code), lr="0.1")))
    assert second.status == "Completed", second.failure_reason
    assert [path for path in (tmp_path / "venvs").iterdir() if path.is_dir()] == environments
    assert marker.stat().st_mtime_ns == installed_at
    second_log = (runner.home / "training" / "req-2" / "training.log").read_text()
    assert "Successfully installed" not in second_log
    assert second.final_metrics == {"loss": 0.5}


def test_a_failed_install_fails_the_job_with_pips_message(runner: Runner, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('never runs')\n")
    (code / "requirements.txt").write_text("airflow-hpt-no-such-package-anywhere==0.0.1\n")

    outcome = finish(runner.start(spec("bad-req", "train.py", str(code))))
    assert outcome.status == "Failed"
    reason = outcome.failure_reason or ""
    assert reason.startswith("AlgorithmError: InstallRequirementsError:"), reason
    assert "airflow-hpt-no-such-package-anywhere" in reason and "ERROR:" in reason
    assert len(reason) <= 1024
    # a failed environment is not kept: the next job tries again
    assert not any(path.is_dir() for path in (tmp_path / "venvs").iterdir())


def test_code_from_a_sourcedir_archive_in_the_backends_s3(runner: Runner, s3: LocalS3) -> None:
    archive = s3.path_for("s3://code/tune-1/source/sourcedir.tar.gz")
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(SCRIPTS / "quadratic.py", arcname="quadratic.py")
    outcome = finish(
        runner.start(spec("from-s3", "quadratic.py", '"s3://code/tune-1/source/sourcedir.tar.gz"', x="0.3"))
    )
    assert outcome.status == "Completed", outcome.failure_reason
    assert outcome.final_metrics["loss"] == pytest.approx(0.49 + 0.5 + 1 / 3, abs=1e-6)  # x at its optimum


def test_environment_and_arguments_are_the_toolkits(runner: Runner, s3: LocalS3) -> None:
    train = s3.path_for("s3://data/train")
    train.mkdir(parents=True)
    (train / "rows.csv").write_text("1,2\n")
    job = spec("show-env", "show_env.py", str(SCRIPTS), lr="0.1", kernel='"rbf"', x="2", flag="true")
    job = TrainingSpec(
        **{
            **job.__dict__,
            "input_data_config": [
                {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://data/train"}}}
            ],
        }
    )
    outcome = finish(runner.start(job))
    assert outcome.status == "Completed", outcome.failure_reason
    with tarfile.open(s3.path_for(outcome.model_artifacts or "")) as model:
        member = model.extractfile("seen.json")
        assert member is not None
        seen = json.loads(member.read())

    # the toolkit's own view of the same job folder, computed apart from the backend
    folder = runner.home / "training" / "show-env"
    expected = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from sagemaker_training import environment as e; env = e.Environment(); "
            "print(json.dumps({'env': env.to_env_vars(), 'args': env.to_cmd_args()}))",
        ],
        env={
            **os.environ,
            "SAGEMAKER_BASE_DIR": str(folder),
            "TRAINING_JOB_NAME": "show-env",
            "SM_STUDIO_LOCAL_MODE": "true",
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    toolkit = json.loads(expected.splitlines()[-1])
    assert seen["argv"] == toolkit["args"] == ["--flag", "True", "--kernel", "rbf", "--lr", "0.1", "-x", "2"]
    sm_vars = {name: value for name, value in toolkit["env"].items() if name.startswith("SM_")}
    assert {name: seen["env"].get(name) for name in sm_vars} == sm_vars
    assert seen["env"]["SM_CHANNEL_TRAIN"] == str(folder / "input" / "data" / "train")
    assert json.loads(seen["env"]["SM_TRAINING_ENV"])["job_name"] == "show-env"


def test_the_toolkits_region_is_read_in_the_jobs_environment(
    runner: Runner, s3: LocalS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The toolkit's boto3 sessions read the region (its SAGEMAKER_REGION) in the job: from the
    job's environment and config file, not the zygote's."""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    config = tmp_path / "aws-config"
    config.write_text("[profile tuning]\nregion = ap-south-2\n")
    jobs = {
        "region-of-profile": ({"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "tuning"}, "ap-south-2"),
        "region-of-env": ({"AWS_DEFAULT_REGION": "eu-west-3"}, "eu-west-3"),
    }
    for name, (environment, region) in jobs.items():
        job = TrainingSpec(**{**spec(name, "show_env.py", str(SCRIPTS)).__dict__, "environment": environment})
        outcome = finish(runner.start(job))
        assert outcome.status == "Completed", outcome.failure_reason
        with tarfile.open(s3.path_for(outcome.model_artifacts or "")) as model:
            member = model.extractfile("seen.json")
            assert member is not None
            assert json.loads(member.read())["env"]["SAGEMAKER_REGION"] == region, name

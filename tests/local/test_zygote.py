"""The zygote that forks training jobs: no re-import of the backend's ``__main__``, the toolkit's
paths per job, a dead zygote failing its jobs and replaced, a plain subprocess when none starts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.training import toolkit
from airflow_hpt.local.training.runner import Runner, TrainingOutcome, TrainingProcess, TrainingSpec
from airflow_hpt.local.training.zygote import MAX_FAILED_STARTS, Zygote, ZygoteGone
from tests.waiting import PATIENCE_SECONDS, wait_until

SCRIPTS = Path(__file__).parent / "scripts"
REPO = Path(__file__).resolve().parents[2]

# a backend run as a script: multiprocessing's fork server re-imported such a __main__ per job
BACKEND_SCRIPT = """\
import sys
from pathlib import Path

with open(sys.argv[1], "a") as imports:
    imports.write(__name__ + "\\n")

if __name__ == "__main__":
    from airflow_hpt.local.training.runner import Runner, TrainingSpec
    from airflow_hpt.local.s3.paths import LocalS3

    home = Path(sys.argv[2])
    runner = Runner(home, LocalS3(home))
    for index in range(2):
        spec = TrainingSpec(
            training_job_name=f"noop-{index}",
            hyperparameters={"sagemaker_program": "noop.py", "sagemaker_submit_directory": sys.argv[3]},
            input_data_config=[],
            output_path="s3://out/models/",
            metric_definitions=[],
            max_runtime_seconds=600,
        )
        outcome = runner.start(spec).wait(600)
        print(outcome.status if outcome else "unfinished", flush=True)
"""

# what the zygote prepares, then what a job's child redoes: every string of the toolkit's modules
# (and default argument) holding the zygote's SAGEMAKER_BASE_DIR, before and after
ZYGOTE_PATHS = """\
import json
import os
import sys
import types

from airflow_hpt.local.training import preload


def zygote_paths():
    found = []
    for name, module in list(sys.modules.items()):
        if name.startswith("sagemaker_training"):
            for attribute, value in vars(module).items():
                values = [value]
                if isinstance(value, types.FunctionType):
                    values += [*(value.__defaults__ or ()), *(value.__kwdefaults__ or {}).values()]
                if any(isinstance(item, str) and preload.ZYGOTE_BASE_DIR in item for item in values):
                    found.append(f"{name}.{attribute}")
    return sorted(found)


preload.preload()
before = zygote_paths()
os.environ["SAGEMAKER_BASE_DIR"] = sys.argv[1]
preload.enter_job()
print(json.dumps({"before": before, "after": zygote_paths()}))
"""


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    home = tmp_path / "home"
    return Runner(home, LocalS3(home), stop_grace_seconds=2.0)


def spec(name: str, program: str, **hyperparameters: str) -> TrainingSpec:
    return TrainingSpec(
        training_job_name=name,
        hyperparameters={
            "sagemaker_program": program,
            "sagemaker_submit_directory": str(SCRIPTS),
            **hyperparameters,
        },
        input_data_config=[],
        output_path="s3://out/models/",
        metric_definitions=[],
        max_runtime_seconds=600,
    )


def finish(process: TrainingProcess) -> TrainingOutcome:
    outcome = process.wait(PATIENCE_SECONDS)
    assert outcome is not None, "training job did not finish in time"
    return outcome


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_script_backend_is_not_imported_again_per_job(tmp_path: Path) -> None:
    script = tmp_path / "backend.py"
    script.write_text(BACKEND_SCRIPT)
    imports = tmp_path / "imports.txt"
    result = subprocess.run(
        [sys.executable, str(script), str(imports), str(tmp_path / "home"), str(SCRIPTS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Completed", "Completed"], result.stderr
    assert imports.read_text().split() == ["__main__"]


def test_each_job_gets_the_toolkits_paths_of_its_own_folder(runner: Runner, tmp_path: Path) -> None:
    """The toolkit reads SAGEMAKER_BASE_DIR at import: jobs forked from one zygote must not share it."""
    for name in ("first-job", "second-job"):
        outcome = finish(runner.start(spec(name, "show_env.py")))
        assert outcome.status == "Completed", outcome.failure_reason
        assert outcome.model_artifacts is not None
        with tarfile.open(runner.s3.object_path(outcome.model_artifacts)) as archive:
            member = archive.extractfile("seen.json")
            assert member is not None
            env = json.loads(member.read())["env"]
        job = runner.home / "training" / name
        assert env["SM_MODEL_DIR"] == str(job / "model")
        assert json.loads(env["SM_TRAINING_ENV"])["input_config_dir"] == str(job / "input" / "config")


def test_a_jobs_toolkit_keeps_no_path_of_the_zygotes(tmp_path: Path) -> None:
    """Every toolkit module that read SAGEMAKER_BASE_DIR at import is re-executed in the job."""
    result = subprocess.run(
        [sys.executable, "-c", ZYGOTE_PATHS, str(tmp_path / "job")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    # the scan sees the paths the toolkit computes at import...
    assert {
        "sagemaker_training.environment.base_dir",
        "sagemaker_training.entry_point.install",
        "sagemaker_training.intermediate_output.intermediate_path",
    } <= set(found["before"])
    # ...and a job's child has none left
    assert found["after"] == []


def test_a_dead_zygote_fails_its_running_jobs_and_a_new_one_takes_over(runner: Runner) -> None:
    process = runner.start(spec("orphaned", "spawn_child.py"))
    wait_until("the script to start its child", lambda: "child=" in process.log_path.read_text())
    child = int(process.log_path.read_text().split("child=")[1].split()[0])
    zygote = toolkit.ZYGOTE.pid
    assert zygote is not None
    try:
        os.kill(zygote, signal.SIGKILL)
        outcome = finish(process)
        assert outcome.status == "Failed"
        assert outcome.failure_reason is not None
        assert outcome.failure_reason.startswith("InternalServerError: the training job launcher (zygote")
        # its exit code can no longer be known: the job's processes end with it
        wait_until("the orphaned job's child to be killed", lambda: not is_alive(child))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    outcome = finish(runner.start(spec("after", "noop.py")))
    assert outcome.status == "Completed", outcome.failure_reason
    assert toolkit.ZYGOTE.pid not in (None, zygote)


def test_a_zygote_that_never_starts_is_given_up() -> None:
    zygote = Zygote(python="/bin/false")
    for _ in range(MAX_FAILED_STARTS):
        with pytest.raises(ZygoteGone, match="exited with code 1"):
            zygote.fork(dict(os.environ), Path.cwd(), None)
    with pytest.raises(ZygoteGone, match=f"{MAX_FAILED_STARTS} zygotes in a row"):
        zygote.fork(dict(os.environ), Path.cwd(), None)


def test_jobs_run_in_a_new_interpreter_without_a_zygote(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Zygote(python="/bin/false")
    for _ in range(MAX_FAILED_STARTS):
        with contextlib.suppress(ZygoteGone):
            broken.fork(dict(os.environ), Path.cwd(), None)
    monkeypatch.setattr(toolkit, "ZYGOTE", broken)
    process = runner.start(spec("no-zygote", "show_env.py", lr="0.1"))
    outcome = finish(process)
    assert outcome.status == "Completed", outcome.failure_reason
    assert "Invoking user script" in process.log_path.read_text()

"""Runner: SageMaker script-mode contract, metrics, artifacts, failures, stops and overhead."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tarfile
import threading
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.training.runner import (
    Runner,
    TrainingOutcome,
    TrainingProcess,
    TrainingSpec,
    _bytecode_environment,
)
from tests.local.conftest import SCRIPTS, TRAINING_DIR
from tests.waiting import PATIENCE_SECONDS, wait_until

LOSS = [{"Name": "loss", "Regex": r"loss=([0-9.eE+-]+)"}]


@pytest.fixture
def s3(tmp_path: Path) -> LocalS3:
    return LocalS3(tmp_path)


@pytest.fixture
def runner(tmp_path: Path, s3: LocalS3) -> Runner:
    return Runner(tmp_path, s3, stop_grace_seconds=2.0)


def make_spec(
    program: str,
    hyperparameters: Mapping[str, str] | None = None,
    *,
    name: str = "tune-001-abcdef12",
    submit_dir: str = str(SCRIPTS),
    channels: Mapping[str, str] | None = None,
    metrics: list[dict[str, str]] | None = None,
    max_runtime: int = 60,
    environment: Mapping[str, str] | None = None,
) -> TrainingSpec:
    return TrainingSpec(
        training_job_name=name,
        hyperparameters={
            "sagemaker_program": program,
            "sagemaker_submit_directory": submit_dir,
            **(hyperparameters or {}),
        },
        input_data_config=[
            {"ChannelName": channel, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
            for channel, uri in (channels or {}).items()
        ],
        output_path="s3://out/models/",
        metric_definitions=LOSS if metrics is None else metrics,
        max_runtime_seconds=max_runtime,
        environment=environment or {},
    )


def finish(process: TrainingProcess, timeout: float = PATIENCE_SECONDS) -> TrainingOutcome:
    outcome = process.wait(timeout)
    assert outcome is not None, "training job did not finish in time"
    return outcome


def tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_script_sees_sagemaker_environment_args_and_channels(runner: Runner, s3: LocalS3) -> None:
    train = s3.path_for("s3://data/train")
    train.mkdir(parents=True)
    (train / "train.csv").write_text("1,2\n")
    s3.path_for("s3://data/val.csv").write_text("3,4\n")
    spec = make_spec(
        "show_env.py",
        {"lr": "0.1", "kernel": '"rbf"', "n-layers": "3"},
        channels={"train": "s3://data/train", "validation": "s3://data/val"},
        metrics=[
            {"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"},
            {"Name": "train:loss", "Regex": r"train:loss=(\S+)"},
        ],
        environment={"EXTRA_VAR": "yes"},
    )
    outcome = finish(runner.start(spec))
    assert outcome.status == "Completed", outcome.failure_reason

    job = runner.home / "training" / spec.training_job_name
    seen: dict[str, Any] = json.loads(tar_members(s3.path_for(outcome.model_artifacts or ""))["seen.json"])
    env = seen["env"]
    # the toolkit passes the hyperparameters sorted by name
    assert seen["argv"] == ["--kernel", "rbf", "--lr", "0.1", "--n-layers", "3"]
    assert Path(seen["cwd"]) == (job / "code").resolve()
    assert json.loads(env["SM_HPS"]) == {"lr": 0.1, "kernel": "rbf", "n-layers": 3}
    assert json.loads(env["SM_USER_ARGS"]) == seen["argv"]
    assert env["SM_HP_LR"] == "0.1" and env["SM_HP_KERNEL"] == "rbf" and env["SM_HP_N-LAYERS"] == "3"
    assert env["SM_MODEL_DIR"] == str(job / "model")
    assert env["SM_OUTPUT_DATA_DIR"] == str(job / "output" / "data")
    assert env["SM_OUTPUT_DIR"] == str(job / "output")
    assert env["SM_INPUT_DIR"] == str(job / "input")
    assert env["SM_INPUT_CONFIG_DIR"] == str(job / "input" / "config")
    assert env["SM_CHANNEL_TRAIN"] == str(job / "input" / "data" / "train")
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert env["SM_NUM_GPUS"] == "0" and int(env["SM_NUM_CPUS"]) >= 1
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_MODULE_DIR"] == str(SCRIPTS)
    assert env["PYTHONUNBUFFERED"] == "1" and env["EXTRA_VAR"] == "yes"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["job_name"] == spec.training_job_name
    assert training_env["channel_input_dirs"]["train"] == env["SM_CHANNEL_TRAIN"]
    assert seen["channels"] == {"train": ["train.csv"], "validation": ["val.csv"]}

    hps = json.loads((job / "input" / "config" / "hyperparameters.json").read_text())
    assert hps["sagemaker_program"] == "show_env.py" and hps["lr"] == "0.1"
    assert "train" in json.loads((job / "input" / "config" / "inputdataconfig.json").read_text())
    output = s3.path_for(f"s3://out/models/{spec.training_job_name}/output/output.tar.gz")
    assert tar_members(output) == {"extra.txt": b"output data"}
    # non-numeric matches are skipped, as SageMaker does
    assert outcome.final_metrics == {"validation:accuracy": 0.75, "train:loss": 1.5}


def test_metrics_intermediate_and_final_and_model_artifact(runner: Runner, s3: LocalS3) -> None:
    spec = make_spec("quadratic.py", {"x": "0.3", "y": "7", "kind": "b", "epochs": "4"})
    process = runner.start(spec)
    outcome = finish(process)

    assert outcome.status == "Completed" and outcome.exit_code == 0 and outcome.failure_reason is None
    samples = process.new_metrics()
    assert [s.step for s in samples] == [0, 1, 2, 3]
    assert [s.value for s in samples] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4], abs=1e-6)
    assert all(s.name == "loss" and s.timestamp.tzinfo is not None for s in samples)
    assert process.new_metrics() == []
    assert outcome.final_metrics == {"loss": pytest.approx(0.25, abs=1e-6)}
    assert outcome.model_artifacts == f"s3://out/models/{spec.training_job_name}/output/model.tar.gz"
    model = json.loads(tar_members(s3.path_for(outcome.model_artifacts))["model.json"])
    assert model["epoch"] == 3
    assert outcome.start_time <= outcome.end_time
    assert not process.running()


def test_metrics_are_available_while_running(runner: Runner, tmp_path: Path) -> None:
    release = tmp_path / "release"
    process = runner.start(make_spec("quadratic.py", {"epochs": "2", "hold": str(release)}))
    early = wait_until("a metric while the job runs", process.new_metrics)
    assert [sample.step for sample in early] == [0] and process.running()
    release.touch()
    assert finish(process).status == "Completed"


def test_each_metric_sample_calls_on_metrics(runner: Runner, tmp_path: Path) -> None:
    release = tmp_path / "release"
    sampled = threading.Event()
    spec = make_spec("quadratic.py", {"epochs": "2", "hold": str(release)})
    process = runner.start(spec, on_metrics=sampled.set)
    assert sampled.wait(PATIENCE_SECONDS), "no call for the first epoch's loss"
    assert [sample.step for sample in process.new_metrics()] == [0] and process.running()
    sampled.clear()
    release.touch()
    assert finish(process).status == "Completed"
    assert sampled.is_set() and [sample.step for sample in process.new_metrics()] == [1]


def test_output_without_a_sample_does_not_call_on_metrics(runner: Runner) -> None:
    sampled = threading.Event()
    spec = make_spec("quadratic.py", {"epochs": "2"}, metrics=[{"Name": "loss", "Regex": "never=([0-9]+)"}])
    outcome = finish(runner.start(spec, on_metrics=sampled.set))
    assert outcome.status == "Completed" and not sampled.is_set()


@pytest.mark.parametrize("mode", ["true", "file"])
def test_failing_script_is_failed_with_reason(runner: Runner, mode: str) -> None:
    process = runner.start(make_spec("quadratic.py", {"fail": mode}))
    outcome = finish(process)
    assert outcome.status == "Failed" and outcome.exit_code == 1
    assert outcome.model_artifacts is None
    assert outcome.failure_reason is not None
    if mode == "file":
        assert outcome.failure_reason == "quadratic: asked to fail (failure file)"
    else:
        assert "ExitCode 1" in outcome.failure_reason
        assert "preparing to fail" in outcome.failure_reason and "asked to fail" in outcome.failure_reason
    # the log is kept after the job
    assert "quadratic: asked to fail" in process.log_path.read_text()


def test_stop_ends_stopped_and_keeps_saved_model(runner: Runner, tmp_path: Path) -> None:
    # held after its first epoch, model saved, until the stop
    process = runner.start(make_spec("quadratic.py", {"epochs": "2", "hold": str(tmp_path / "never")}))
    model = process.log_path.parent / "model" / "model.json"
    wait_until("the first epoch's model", lambda: model.is_file() and model.read_text().endswith("}"))
    process.stop()
    outcome = finish(process)
    assert outcome.status == "Stopped" and outcome.secondary_status == "Stopped"
    assert outcome.failure_reason is None
    assert outcome.model_artifacts is not None and outcome.model_artifacts.endswith("/output/model.tar.gz")
    assert "loss" in outcome.final_metrics


def test_stop_right_after_start(runner: Runner, tmp_path: Path) -> None:
    process = runner.start(make_spec("quadratic.py", {"epochs": "2", "hold": str(tmp_path / "never")}))
    process.stop("changed my mind")
    outcome = finish(process)
    assert outcome.status == "Stopped" and outcome.status_message == "changed my mind"


def test_done_callbacks_get_the_outcome_once(runner: Runner) -> None:
    seen: list[TrainingOutcome] = []
    process = runner.start(make_spec("quadratic.py", {"epochs": "1"}))
    process.add_done_callback(seen.append)
    outcome = finish(process)
    process.add_done_callback(seen.append)  # already done: called at once
    assert seen == [outcome, outcome]


def test_stop_kills_the_scripts_children(runner: Runner) -> None:
    process = runner.start(make_spec("spawn_child.py"))
    wait_until("the script to start its child", lambda: "child=" in process.log_path.read_text())
    child = int(process.log_path.read_text().split("child=")[1].split()[0])
    process.stop()
    outcome = finish(process)
    assert outcome.status == "Stopped" and outcome.model_artifacts is None
    wait_until("the child to be killed", lambda: not is_alive(child))


@pytest.mark.parametrize("escape", ["false", "true"])
def test_a_child_left_holding_the_output_does_not_hold_the_job(runner: Runner, escape: str) -> None:
    """SageMaker ends a job when its script ends: a child in the group is killed, one that
    escaped the group (setsid) is no longer waited for: the job ends while the child, which
    sleeps 300 s, would still hold its output open."""
    process = runner.start(make_spec("leave_child.py", {"escape": escape}))
    outcome = finish(process)
    child = int(process.log_path.read_text().split("child=")[1].split()[0])
    try:
        assert outcome.status == "Completed" and outcome.exit_code == 0
        if escape == "true":
            assert is_alive(child)
        else:  # SIGKILLed with the group; dying takes a moment on a loaded machine
            wait_until("the child in the job's group to be killed", lambda: not is_alive(child))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def is_alive(pid: int) -> bool:
    """False once the process is gone or a zombie (an orphan waits for a reaper that may be slow)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_max_runtime_is_enforced_as_stopped(runner: Runner, tmp_path: Path) -> None:
    # held: only the runtime limit can end it
    spec = make_spec("quadratic.py", {"epochs": "2", "hold": str(tmp_path / "never")}, max_runtime=1)
    outcome = finish(runner.start(spec))
    # not before the limit (the runner's own record; a loaded machine only makes it later)
    assert outcome.end_time - outcome.start_time >= timedelta(seconds=1)
    assert outcome.status == "Stopped" and outcome.secondary_status == "MaxRuntimeExceeded"
    assert "MaxRuntimeInSeconds" in outcome.status_message


def _pack_scripts(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as archive:
        archive.add(SCRIPTS / "quadratic.py", arcname="quadratic.py")


@pytest.mark.parametrize("kind", ["dir", "file-uri", "s3-dir", "local-tar", "s3-tar"])
def test_submit_directory_forms(runner: Runner, s3: LocalS3, tmp_path: Path, kind: str) -> None:
    if kind == "dir":
        submit = str(SCRIPTS)
    elif kind == "file-uri":
        submit = SCRIPTS.as_uri()
    elif kind == "s3-dir":
        s3.upload(SCRIPTS, "s3://code/src")
        submit = "s3://code/src"
    elif kind == "local-tar":
        _pack_scripts(tmp_path / "sourcedir.tar.gz")
        submit = str(tmp_path / "sourcedir.tar.gz")
    else:
        _pack_scripts(s3.path_for("s3://code/job/sourcedir.tar.gz"))
        submit = "s3://code/job/sourcedir.tar.gz"
    outcome = finish(runner.start(make_spec("quadratic.py", {"epochs": "1"}, submit_dir=submit)))
    assert outcome.status == "Completed", outcome.failure_reason
    assert outcome.final_metrics["loss"] > 0


def test_code_snapshot_is_shared_until_the_source_changes(runner: Runner, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    script = source / "train.py"
    script.write_text("print('loss=1')\n")
    first = runner.start(make_spec("train.py", name="job-1", submit_dir=str(source)))
    second = runner.start(make_spec("train.py", name="job-2", submit_dir=str(source)))
    assert finish(first).final_metrics == finish(second).final_metrics == {"loss": 1.0}
    code = (first.log_path.parent / "code").resolve()
    assert (second.log_path.parent / "code").resolve() == code

    script.write_text("print('loss=2.5')\n")
    third = runner.start(make_spec("train.py", name="job-3", submit_dir=str(source)))
    assert finish(third).final_metrics == {"loss": 2.5}
    assert (third.log_path.parent / "code").resolve() != code
    assert (code / "train.py").read_text() == "print('loss=1')\n"


@pytest.mark.parametrize(
    ("program", "submit_dir", "message"),
    [
        ("missing.py", str(SCRIPTS), "missing.py"),
        ("quadratic.py", "s3://nowhere/code", "no such folder"),
        ("../test_runner.py", str(SCRIPTS), "not a file inside"),
    ],
)
def test_bad_code_location_fails_the_job(runner: Runner, program: str, submit_dir: str, message: str) -> None:
    process = runner.start(make_spec(program, submit_dir=submit_dir))
    outcome = finish(process)
    assert outcome.status == "Failed" and outcome.exit_code is None
    assert outcome.failure_reason is not None
    assert outcome.failure_reason.startswith("ClientError:") and message in outcome.failure_reason
    assert message in process.log_path.read_text()


def test_missing_channel_data_fails_the_job(runner: Runner) -> None:
    outcome = finish(runner.start(make_spec("quadratic.py", channels={"train": "s3://data/none"})))
    assert outcome.status == "Failed"
    assert "no data found at s3://data/none" in (outcome.failure_reason or "")


def test_bytecode_cache_only_where_bytecode_is_off(tmp_path: Path) -> None:
    off = _bytecode_environment({"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/bin"}, tmp_path)
    assert off == {"PATH": "/bin", "PYTHONPYCACHEPREFIX": str(tmp_path)}
    assert _bytecode_environment({"PATH": "/bin"}, tmp_path) == {"PATH": "/bin"}
    chosen = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/elsewhere"}
    assert _bytecode_environment(chosen, tmp_path) == {"PYTHONPYCACHEPREFIX": "/elsewhere"}


def test_where_bytecode_is_off_a_job_writes_it_to_the_shared_cache(
    s3: LocalS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # scripts/test switches bytecode on; users' and CI images' environments often switch it off
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    cache = tmp_path / "bytecode"
    runner = Runner(tmp_path / "home", s3, stop_grace_seconds=2.0, bytecode_cache=cache)
    outcome = finish(runner.start(make_spec("show_env.py")))
    assert outcome.status == "Completed", outcome.failure_reason

    env = json.loads(tar_members(s3.path_for(outcome.model_artifacts or ""))["seen.json"])["env"]
    assert env.get("PYTHONPYCACHEPREFIX") == str(cache) and "PYTHONDONTWRITEBYTECODE" not in env
    # what the job's interpreter imported is compiled there, the standard library's json included
    assert list(cache.rglob("json/__init__.*.pyc"))


def test_unsupported_reason() -> None:
    assert (
        Runner.unsupported_reason({"sagemaker_program": "t.py", "sagemaker_submit_directory": "s3://b/c"})
        is None
    )
    reason = Runner.unsupported_reason({"epochs": "3"})
    assert reason is not None
    assert "sagemaker_program" in reason and "sagemaker_submit_directory" in reason
    only_dir = Runner.unsupported_reason({"sagemaker_program": "t.py"})
    assert only_dir is not None and only_dir.endswith("missing: sagemaker_submit_directory")


def test_rerun_of_a_job_name_starts_from_a_clean_folder(runner: Runner) -> None:
    spec = make_spec("quadratic.py", {"epochs": "1"})
    first = runner.start(spec)
    finish(first)
    (first.log_path.parent / "model" / "stale.bin").write_text("old")
    outcome = finish(runner.start(spec))
    assert outcome.status == "Completed"
    assert not (first.log_path.parent / "model" / "stale.bin").exists()


ACCURACY = [{"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9.]+)"}]


@pytest.mark.slow
@pytest.mark.parametrize("data", ["bundled", "csv-channel"])
def test_sklearn_training_script_under_the_runner(runner: Runner, s3: LocalS3, data: str) -> None:
    """The example training script: per-epoch accuracy, a loadable model, CSV channel support."""
    import joblib
    import numpy as np
    from sklearn.datasets import load_wine

    channels = {}
    if data == "csv-channel":
        features, labels = load_wine(return_X_y=True)
        train = s3.path_for("s3://data/wine/train.csv")
        train.parent.mkdir(parents=True)
        np.savetxt(train, np.column_stack([labels, features]), delimiter=",")
        channels = {"train": "s3://data/wine/"}
    spec = make_spec(
        "train_sklearn.py",
        {"alpha": "0.0001", "loss": "log_loss", "epochs": "5"},
        submit_dir=str(TRAINING_DIR),
        channels=channels,
        metrics=ACCURACY,
    )
    process = runner.start(spec)
    outcome = finish(process, timeout=120)
    assert outcome.status == "Completed", outcome.failure_reason
    assert [s.step for s in process.new_metrics()] == [0, 1, 2, 3, 4]
    assert outcome.final_metrics["validation:accuracy"] > 0.8
    with tarfile.open(s3.path_for(outcome.model_artifacts or "")) as archive:
        archive.extractall(runner.home / "unpacked", filter="data")
    model = joblib.load(runner.home / "unpacked" / "model.joblib")
    assert model.predict(np.zeros((1, 13 if data == "csv-channel" else 64))).shape == (1,)

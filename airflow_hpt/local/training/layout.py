"""The ``/opt/ml``-like folder of a training job, and what goes in it before the job runs.

``<home>/training/<job>/`` holds SageMaker's layout: ``input/config/*.json``,
``input/data/<channel>``, ``model``, ``output``, and ``code``, a link to a snapshot of
``sagemaker_submit_directory`` shared by the jobs of the same code version (under
``<home>/code``; scripts should treat it as read-only).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_hpt.local.s3.paths import LocalS3

PROGRAM_HP = "sagemaker_program"
SUBMIT_DIR_HP = "sagemaker_submit_directory"
HOST = "algo-1"
LOG_FILE = "training.log"
LOG_TIMES_FILE = "training.log.times"
METRICS_FILE = "metrics.jsonl"
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_NOT_CODE_DIRS = ("__pycache__", ".git")
_NOT_CODE = shutil.ignore_patterns(*_NOT_CODE_DIRS, "*.pyc")


def job_folder(home: Path, training_job_name: str) -> Path:
    """The ``/opt/ml``-like folder of a training job under the backend's home."""
    return Path(home) / "training" / training_job_name


def decode_hyperparameter(value: str) -> Any:
    """A hyperparameter as the SageMaker toolkit sees it: JSON-decoded when it is JSON.

    The SageMaker Python SDK JSON-encodes every value (``'"train.py"'``); plain strings
    (``0.1``, ``rbf``) are left alone.
    """
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def hyperparameter_text(value: str) -> str:
    """A hyperparameter as a command-line string: a JSON string literal loses its quotes."""
    decoded = decode_hyperparameter(value)
    return decoded if isinstance(decoded, str) else value


@dataclass(frozen=True)
class JobLayout:
    """The ``/opt/ml``-like folder of one job."""

    root: Path

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def data(self) -> Path:
        return self.input / "data"

    @property
    def config(self) -> Path:
        return self.input / "config"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def output_data(self) -> Path:
        return self.output / "data"

    @property
    def failure(self) -> Path:
        return self.output / "failure"

    @property
    def log(self) -> Path:
        return self.root / LOG_FILE

    @property
    def log_times(self) -> Path:
        return self.root / LOG_TIMES_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    def create(self) -> None:
        if self.root.exists():
            # a job name is unique: a folder left behind belongs to an earlier, abandoned attempt
            shutil.rmtree(self.root)
        for folder in (self.data, self.config, self.model, self.output_data):
            folder.mkdir(parents=True)
        # exists from the start, so that the log can be followed before the script prints
        self.log.touch()

    def write_config(
        self,
        hyperparameters: Mapping[str, str],
        input_data_config: Sequence[Mapping[str, Any]],
        instance_type: str,
    ) -> None:
        """``input/config/*.json`` as SageMaker writes them for a one-instance job."""
        group = "homogeneousCluster"
        files = {
            "hyperparameters.json": dict(hyperparameters),
            "inputdataconfig.json": {c["ChannelName"]: channel_config(c) for c in input_data_config},
            "resourceconfig.json": {
                "current_host": HOST,
                "current_instance_type": instance_type,
                "current_group_name": group,
                "hosts": [HOST],
                "instance_groups": [
                    {"instance_group_name": group, "instance_type": instance_type, "hosts": [HOST]}
                ],
                "network_interface_name": "eth0",
            },
        }
        for file_name, content in files.items():
            (self.config / file_name).write_text(json.dumps(content), encoding="utf-8")

    def stage_channels(self, s3: LocalS3, input_data_config: Sequence[Mapping[str, Any]]) -> None:
        """Make each channel's S3 objects visible under ``input/data/<channel>`` (File mode)."""
        for channel in input_data_config:
            name = channel["ChannelName"]
            source = channel["DataSource"]["S3DataSource"]
            data_type = source.get("S3DataType", "S3Prefix")
            if data_type != "S3Prefix":
                raise ValueError(f"channel {name!r}: S3DataType {data_type} is not supported locally")
            _stage_prefix(s3.object_path(source["S3Uri"]), self.data / name, source["S3Uri"])

    def link_code(self, s3: LocalS3, submit_dir: str, snapshots: Path) -> None:
        """Link ``code`` to a snapshot of ``sagemaker_submit_directory``.

        Like the SageMaker SDK, which uploads the source once per tuning job, a snapshot is made
        once per version of the source (its files' sizes and times) and shared by the jobs that
        use it: creating files is what a job's set-up costs most, so jobs do not copy the code.
        ``s3://`` URIs are read from the backend's store.
        """
        source = s3.path_for(submit_dir)
        if source.is_dir():
            signature = _tree_signature(source)
        elif source.is_file() and source.name.endswith(_ARCHIVE_SUFFIXES):
            signature = _file_signature(source)
        else:
            raise ValueError(f"{SUBMIT_DIR_HP} {submit_dir!r}: no such folder or .tar.gz archive")
        digest = hashlib.sha256(f"{source}\0{signature}".encode()).hexdigest()[:20]
        snapshot = snapshots / digest
        if not snapshot.is_dir():
            _make_snapshot(source, snapshot)
        self.code.symlink_to(snapshot, target_is_directory=True)


def channel_config(channel: Mapping[str, Any]) -> dict[str, str]:
    """A channel as ``inputdataconfig.json`` describes it."""
    source = channel["DataSource"]["S3DataSource"]
    return {
        "TrainingInputMode": channel.get("InputMode", "File"),
        "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
        "RecordWrapperType": channel.get("RecordWrapperType", "None"),
        "ContentType": channel.get("ContentType", ""),
    }


def _stage_prefix(source: Path, target: Path, uri: str) -> None:
    """Make the objects under an S3 prefix visible in a channel folder.

    A prefix naming a folder becomes the channel (a symlink: data is read-only for the script
    and may be large); one naming an object puts that object in the channel; otherwise every
    object whose key starts with the prefix is linked in by name, as S3's prefix match would.
    """
    if source.is_dir():
        target.symlink_to(source, target_is_directory=True)
        return
    matches = [source] if source.is_file() else sorted(source.parent.glob(glob.escape(source.name) + "*"))
    if not matches:
        raise ValueError(f"no data found at {uri}")
    target.mkdir()
    for match in matches:
        (target / match.name).symlink_to(match, target_is_directory=match.is_dir())


def _file_signature(path: Path) -> str:
    status = path.stat()
    return f"{status.st_size}:{status.st_mtime_ns}"


def _tree_signature(folder: Path) -> str:
    """Names, sizes and modification times of the code files under ``folder``."""
    entries = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_CODE_DIRS)
        for name in sorted(files):
            path = Path(root, name)
            entries.append(f"{path.relative_to(folder)}={_file_signature(path)}")
    return "\n".join(entries)


def _make_snapshot(source: Path, snapshot: Path) -> None:
    """Copy (or extract) the code into ``snapshot``, atomically: parallel jobs may race for it."""
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=snapshot.parent, prefix=".staging-"))
    try:
        if source.is_dir():
            shutil.copytree(source, staging, ignore=_NOT_CODE, dirs_exist_ok=True)
        else:
            with tarfile.open(source) as archive:
                # the "data" filter refuses members that would land outside the folder
                archive.extractall(staging, filter="data")
        staging.rename(snapshot)
    except OSError:
        if not snapshot.is_dir():
            raise
        # another job made the same snapshot first
    finally:
        shutil.rmtree(staging, ignore_errors=True)

"""The inference code of DeployModelOperator: checks, sourcedir.tar.gz packing, the SDK's environment."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from pathlib import Path

import pytest

from airflow_hpt.inference_code import InferenceCode, framework_environment, inference_code, pack, upload_uri


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    (folder / "lib").mkdir(parents=True)
    (folder / "serve.py").write_text("def model_fn(model_dir):\n    return None\n")
    (folder / "lib" / "helpers.py").write_text("X = 1\n")
    (folder / "requirements.txt").write_text("")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "serve.cpython-312.pyc").write_bytes(b"\0")
    return folder


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as opened:
        return {
            member.name: opened.extractfile(member).read()  # type: ignore[union-attr]
            for member in opened.getmembers()
        }


def test_no_entry_point_means_no_code() -> None:
    assert inference_code(None, None) is None
    assert inference_code("", "") is None


@pytest.mark.parametrize(
    ("entry_point", "source", "message"),
    [
        (None, "s3://bucket/code.tar.gz", "entry_point: required with source_dir"),
        ("serve.py", "s3://bucket/code/", "source_dir: 's3://bucket/code/' must name a .tar.gz"),
        (
            "serve.py",
            "/no/such/folder",
            "source_dir: '/no/such/folder' is neither an s3:// URI nor a local folder",
        ),
        (
            "/abs/serve.py",
            "s3://bucket/code.tar.gz",
            "entry_point: '/abs/serve.py' must be a path inside source_dir",
        ),
        ("../serve.py", "s3://bucket/code.tar.gz", "must be a path inside source_dir"),
        ("/no/such/serve.py", None, "entry_point: '/no/such/serve.py' is not a local file"),
    ],
)
def test_bad_code_is_refused_naming_the_parameter(entry_point: str | None, source: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        inference_code(entry_point, source)


def test_an_entry_point_missing_from_the_local_folder_is_refused(source_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"entry_point: 'inference\.py' is not a file in source_dir"):
        inference_code("inference.py", str(source_dir))


def test_where_the_code_comes_from(source_dir: Path) -> None:
    assert inference_code("serve.py", "s3://b/k/sourcedir.tar.gz") == InferenceCode(
        "serve.py", archive_uri="s3://b/k/sourcedir.tar.gz"
    )
    assert inference_code("lib/helpers.py", str(source_dir)) == InferenceCode(
        "lib/helpers.py", local_path=source_dir
    )
    # without source_dir, the script alone, named by its file name (as the SDK's script_name)
    alone = source_dir / "serve.py"
    assert inference_code(str(alone), None) == InferenceCode("serve.py", local_path=alone)


def test_a_folder_is_packed_at_the_archive_root_without_byte_code(source_dir: Path) -> None:
    archive = pack(source_dir)
    assert members(archive) == {
        "lib/helpers.py": b"X = 1\n",
        "requirements.txt": b"",
        "serve.py": b"def model_fn(model_dir):\n    return None\n",
    }
    # the same files give the same bytes: a retried deploy uploads an identical object
    assert pack(source_dir) == archive
    (source_dir / "serve.py").write_text("changed\n")
    assert pack(source_dir) != archive


def test_a_single_file_is_packed_alone(source_dir: Path) -> None:
    assert list(members(pack(source_dir / "serve.py"))) == ["serve.py"]


def test_packed_code_goes_where_the_sdk_puts_it_in_a_folder_per_content() -> None:
    artifacts = "s3://models/weekly/job-1/output/model.tar.gz"
    digest = hashlib.sha256(b"code").hexdigest()[:12]
    assert upload_uri(artifacts, "job-1", b"code") == f"s3://models/job-1/{digest}/sourcedir.tar.gz"
    assert (
        upload_uri(artifacts, "job-1", b"code", "s3://code/prefix/")
        == f"s3://code/prefix/job-1/{digest}/sourcedir.tar.gz"
    )
    assert upload_uri(artifacts, "job-1", b"other code") != upload_uri(artifacts, "job-1", b"code")
    with pytest.raises(ValueError, match="code_location: 'code/prefix' must be an s3:// URI"):
        upload_uri(artifacts, "job-1", b"code", "code/prefix")


def test_the_environment_is_the_sdk_framework_models_one() -> None:
    environment = framework_environment(
        "serve.py",
        "s3://models/job-1/sourcedir.tar.gz",
        "eu-west-1",
        env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv", "SAGEMAKER_PROGRAM": "ignored.py"},
    )
    assert environment == {
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
        "SAGEMAKER_PROGRAM": "serve.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "s3://models/job-1/sourcedir.tar.gz",
        # str(logging.INFO), the SDK's default container_log_level
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "eu-west-1",
    }

"""A deployed model's inference code, given as the SageMaker Python SDK's framework models give it.

``SKLearnModel(entry_point=..., source_dir=...)`` (and PyTorchModel and the others) packs the source
folder into ``sourcedir.tar.gz``, uploads it to S3 and sets four variables in the model's container
environment (``Model._framework_env_vars``): ``SAGEMAKER_PROGRAM`` (the entry point),
``SAGEMAKER_SUBMIT_DIRECTORY`` (the archive's ``s3://`` URI), ``SAGEMAKER_CONTAINER_LOG_LEVEL``
(``logging.INFO`` unless told) and ``SAGEMAKER_REGION``. The framework serving containers read those
to find ``model_fn`` and the other handlers; so does the local backend. Nothing here imports Airflow
or boto3: the operator does the upload.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SOURCEDIR_ARCHIVE = "sourcedir.tar.gz"
# the SDK's default container_log_level
DEFAULT_LOG_LEVEL = logging.INFO
# byte-code caches differ between machines and runs; the containers compile their own
SKIPPED_NAMES = ("__pycache__",)
SKIPPED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class InferenceCode:
    """Where the entry point comes from: an archive already in S3, or local files to pack and upload."""

    entry_point: str
    # the s3:// URI of a sourcedir.tar.gz, when the code is already uploaded
    archive_uri: str | None = None
    # a local folder (packed whole) or file (the entry point alone), when it is not
    local_path: Path | None = None


def inference_code(entry_point: str | None, source_dir: str | None) -> InferenceCode | None:
    """Check the operator's ``entry_point`` and ``source_dir``; ``None`` when neither is given (the
    model's archive carries ``code/inference.py``, or the image its own code).

    ``source_dir`` is the ``s3://`` URI of a ``.tar.gz`` or a local folder holding ``entry_point``
    (a path relative to it); without it, ``entry_point`` is a local file deployed alone.
    Raises ``ValueError`` naming the parameter and the rule.
    """
    if not entry_point:
        if source_dir:
            raise ValueError("entry_point: required with source_dir (the script the serving container runs)")
        return None
    if source_dir is None or source_dir == "":
        script = Path(entry_point)
        if not script.is_file():
            raise ValueError(
                f"entry_point: {entry_point!r} is not a local file; without source_dir, entry_point is "
                "the path of the script to deploy alone"
            )
        return InferenceCode(entry_point=script.name, local_path=script)
    relative = PurePosixPath(entry_point)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"entry_point: {entry_point!r} must be a path inside source_dir, relative to it")
    if source_dir.startswith("s3://"):
        if not source_dir.endswith(".tar.gz"):
            raise ValueError(
                f"source_dir: {source_dir!r} must name a .tar.gz archive (s3://bucket/key.tar.gz)"
            )
        return InferenceCode(entry_point=entry_point, archive_uri=source_dir)
    folder = Path(source_dir)
    if not folder.is_dir():
        raise ValueError(f"source_dir: {source_dir!r} is neither an s3:// URI nor a local folder")
    if not (folder / relative).is_file():
        raise ValueError(f"entry_point: {entry_point!r} is not a file in source_dir {source_dir!r}")
    return InferenceCode(entry_point=entry_point, local_path=folder)


def pack(path: Path) -> bytes:
    """``sourcedir.tar.gz`` of a folder (its contents at the archive's root) or of one file, byte for
    byte the same for the same files: sorted members, no timestamps or owners."""
    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and _packed(p, path))
    )
    root = path.parent if path.is_file() else path
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as archive,
    ):
        for file in files:
            info = tarfile.TarInfo(file.relative_to(root).as_posix())
            data = file.read_bytes()
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _packed(file: Path, root: Path) -> bool:
    parts = file.relative_to(root).parts
    return not any(part in SKIPPED_NAMES for part in parts) and file.suffix not in SKIPPED_SUFFIXES


def upload_uri(
    model_artifacts: str, model_name: str, archive: bytes, code_location: str | None = None
) -> str:
    """Where packed code goes, as the SDK's ``<code_location>/<model name>/.../sourcedir.tar.gz``; without
    ``code_location``, the bucket of the model's artifacts stands for the SDK's default bucket.

    The folder is named by the archive's digest: other code for the same model name never overwrites
    the code an existing model serves."""
    if code_location:
        if not code_location.startswith("s3://"):
            raise ValueError(f"code_location: {code_location!r} must be an s3:// URI")
        prefix = code_location.rstrip("/")
    else:
        if not model_artifacts.startswith("s3://"):
            raise ValueError(f"model_artifacts: {model_artifacts!r} must be an s3:// URI")
        prefix = "s3://" + model_artifacts.removeprefix("s3://").split("/", 1)[0]
    digest = hashlib.sha256(archive).hexdigest()[:12]
    return f"{prefix}/{model_name}/{digest}/{SOURCEDIR_ARCHIVE}"


def framework_environment(
    entry_point: str,
    submit_directory: str,
    region: str,
    log_level: int = DEFAULT_LOG_LEVEL,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The model container's ``Environment``: ``env`` first, the framework's variables over it (as
    the SDK's ``prepare_container_def`` merges them)."""
    return {
        **dict(env or {}),
        "SAGEMAKER_PROGRAM": entry_point,
        "SAGEMAKER_SUBMIT_DIRECTORY": submit_directory,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": str(log_level),
        "SAGEMAKER_REGION": region,
    }

"""The local object store: ``s3://bucket/key`` lives at ``<home>/s3/bucket/key``.

Every URI that reaches this module comes from a request body, so a key must never resolve
outside its bucket: ``..`` segments and absolute components are rejected before touching the
disk, and the resolved path is checked for containment as well (a symlink inside the store could
still point elsewhere).

Local code folders (``file:///abs/path`` or ``/abs/path``) are the one way out of the home, and on
purpose: a training script under development lives in its project, not in the store, and the
backend runs it anyway. They must be absolute and free of ``..`` segments, so the path a request
names is the path used, and lie inside one of the trusted ``code_roots`` (by default the backend's
home and the current folder, the project it runs in, and those named in ``AIRFLOW_HPT_LOCAL_CODE_ROOTS``;
``--code-root`` replaces them): never the file
system's root, a trusted root itself, or a folder holding the home (its snapshot would copy the
store into itself). Everything SageMaker reads from or writes to S3 (channels, output paths,
model artifacts) goes through :meth:`LocalS3.object_path`, which accepts ``s3://`` only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

# Folders trusted for local code besides the defaults, for whoever starts the backend where the
# command line is out of reach (a test session, a service manager)
CODE_ROOTS_VARIABLE = "AIRFLOW_HPT_LOCAL_CODE_ROOTS"


def _roots_from_environment() -> list[str]:
    return [root for root in os.environ.get(CODE_ROOTS_VARIABLE, "").split(os.pathsep) if root]


class LocalS3:
    """Maps S3 URIs to files under ``<home>/s3`` and back."""

    def __init__(self, home: Path, code_roots: Sequence[Path | str] | None = None) -> None:
        """``code_roots``: where local code folders may be (default: ``home``, the current folder and
        the folders of ``AIRFLOW_HPT_LOCAL_CODE_ROOTS``, separated by ``os.pathsep``)."""
        self.home = Path(home).resolve()
        self.root = (Path(home) / "s3").resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        roots: Sequence[Path | str] = (
            code_roots if code_roots is not None else (self.home, Path.cwd(), *_roots_from_environment())
        )
        self.code_roots = tuple(Path(root).resolve() for root in roots)

    def path_for(self, uri: str) -> Path:
        """The local path of an ``s3://`` URI, a ``file://`` URI or an absolute local path."""
        if uri.startswith("s3://"):
            return self._s3_path(uri)
        if uri.startswith("file://"):
            parts = urlsplit(uri)
            if parts.netloc not in ("", "localhost"):
                raise ValueError(f"{uri!r}: a file:// URI must name a local path (file:///abs/path)")
            return self._code_path(_local_path(unquote(parts.path), uri), uri)
        if Path(uri).is_absolute():
            return self._code_path(_local_path(uri, uri), uri)
        raise ValueError(f"{uri!r}: expected an s3:// URI, a file:// URI or an absolute local path")

    def _code_path(self, path: Path, uri: str) -> Path:
        if path == Path(path.anchor) or self.home.is_relative_to(path):
            raise ValueError(
                f"{uri!r}: a local code folder must not be the file system's root or hold the home"
            )
        if not any(path.is_relative_to(root) and path != root for root in self.code_roots):
            roots = ", ".join(str(root) for root in self.code_roots)
            raise ValueError(
                f"{uri!r}: a local code folder must lie inside a trusted code root ({roots}); "
                "start the backend with --code-root to trust another"
            )
        return path

    def object_path(self, uri: str) -> Path:
        """The local path of an ``s3://`` URI; any other kind of URI is refused."""
        if not uri.startswith("s3://"):
            raise ValueError(f"{uri!r}: the local backend reads and writes s3:// URIs only")
        return self._s3_path(uri)

    def upload(self, local_dir_or_file: Path, uri: str) -> None:
        """Copy a file or a directory tree to ``uri`` (a URI ending in ``/`` keeps the file's name)."""
        source = Path(local_dir_or_file)
        target = self.path_for(uri)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
            return
        if uri.endswith("/"):
            target = target / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    def uri_for(self, path: Path) -> str:
        """The ``s3://`` URI of a path under the store (the inverse of :meth:`path_for`)."""
        try:
            relative = Path(path).resolve().relative_to(self.root)
        except ValueError:
            raise ValueError(f"{path} is not inside the local S3 store {self.root}") from None
        if not relative.parts:
            raise ValueError(f"{path} is the store's root, not a bucket or an object")
        return "s3://" + relative.as_posix()

    def _s3_path(self, uri: str) -> Path:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not bucket or bucket in (".", "..") or "\\" in bucket or "\0" in uri:
            raise ValueError(f"{uri!r}: not a valid S3 URI (empty or invalid bucket name)")
        key_path = PurePosixPath(key)
        if key.startswith("/") or ".." in key_path.parts:
            raise ValueError(f"{uri!r}: the key escapes its bucket ('..' segment or absolute component)")
        bucket_root = self.root / bucket
        path = (bucket_root / key_path).resolve()
        if not path.is_relative_to(bucket_root.resolve()):
            raise ValueError(f"{uri!r}: resolves outside its bucket")
        return path


def _local_path(path: str, uri: str) -> Path:
    if "\0" in path or ".." in PurePosixPath(path).parts:
        raise ValueError(f"{uri!r}: a local path must not contain '..' segments")
    return Path(path).resolve()

"""S3's object model on the local store: buckets, objects, metadata and multipart uploads.

Objects are the files training jobs read and write, ``<home>/s3/<bucket>/<key>`` (located by
:class:`~airflow_hpt.local.s3.paths.LocalS3`, which refuses keys that would leave their bucket). What S3
keeps beside an object (ETag, Content-Type, user metadata) and uploads in progress live in
``<home>/s3meta/<bucket>/``, outside the bucket folders, so a training job listing a channel sees
only the objects. A sidecar records the size and modification time of the file it describes: a
file changed or written by anything else (a training job's model artifact) has its ETag computed
again from its bytes. Writes go to a temporary file in ``s3meta`` and are renamed into place, so
a reader never sees half an object, and removed on any failure. Keys longer than a file name
allows are mapped by :mod:`keys`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from airflow_hpt.local.s3.chunks import file_chunks
from airflow_hpt.local.s3.errors import S3Error, no_such_bucket, no_such_key, no_such_upload
from airflow_hpt.local.s3.keys import MAX_KEY_BYTES, SegmentNames, stored_key, stored_segment
from airflow_hpt.local.s3.paths import LocalS3

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
# S3's naming rules for new buckets (general purpose buckets)
BUCKET_NAME = re.compile(r"^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass
class ObjectInfo:
    key: str
    size: int
    etag: str  # quoted, as S3 sends it
    mtime_ns: int
    content_type: str = DEFAULT_CONTENT_TYPE
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def last_modified(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, UTC)


class ObjectStore:
    """Buckets and objects under ``<home>/s3``, their metadata under ``<home>/s3meta``."""

    def __init__(self, s3: LocalS3, home: Path) -> None:
        self.s3 = s3
        self.meta_root = Path(home).resolve() / "s3meta"
        self._tmp = self.meta_root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._segments = SegmentNames(self.meta_root / "segments", self._write_bytes)
        self._lock = threading.Lock()

    # --- buckets -------------------------------------------------------------------------------

    def list_buckets(self) -> list[tuple[str, datetime]]:
        return [
            (path.name, self._bucket_created(path.name))
            for path in sorted(self.s3.root.iterdir())
            if path.is_dir() and not path.is_symlink()
        ]

    def create_bucket(self, bucket: str, region: str) -> None:
        if not BUCKET_NAME.match(bucket):
            raise S3Error("InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=bucket)
        with self._lock:
            path = self._bucket_path(bucket)
            if path.exists():
                raise S3Error(
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                    409,
                    BucketName=bucket,
                )
            path.mkdir(parents=True)
            created = datetime.now(UTC).isoformat()
            self._write_json(self._meta_dir(bucket) / "bucket.json", {"created": created, "region": region})

    def bucket_region(self, bucket: str) -> str | None:
        """The region a bucket was created in (``None``: us-east-1 or made by other means)."""
        self.require_bucket(bucket)
        region = self._read_json(self._meta_dir(bucket) / "bucket.json").get("region")
        return str(region) if region else None

    def delete_bucket(self, bucket: str) -> None:
        with self._lock:
            path = self.require_bucket(bucket)
            if any(path.iterdir()):
                raise S3Error(
                    "BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=bucket
                )
            path.rmdir()
            shutil.rmtree(self._meta_dir(bucket), ignore_errors=True)

    def require_bucket(self, bucket: str) -> Path:
        path = self._bucket_path(bucket)
        if not path.is_dir() or path.is_symlink():
            raise no_such_bucket(bucket)
        return path

    # --- objects -------------------------------------------------------------------------------

    @property
    def receiving(self) -> Path:
        """Where request bodies are received before :meth:`put_file` or :meth:`upload_part` takes them."""
        return self._tmp

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str, metadata: dict[str, str]
    ) -> ObjectInfo:
        return self._store(bucket, key, [data], None, content_type, metadata)

    def check_writable(self, bucket: str, key: str, upload_id: str | None = None) -> None:
        """Refuse, before a body is received, a write the store would refuse after: no such bucket
        or upload, or a key it cannot hold."""
        self.require_bucket(bucket)
        self._object_path(bucket, key)
        if upload_id is not None:
            self._upload(bucket, key, upload_id)

    def put_file(
        self, bucket: str, key: str, received: Path, md5: str, content_type: str, metadata: dict[str, str]
    ) -> ObjectInfo:
        """Move ``received`` (a file of :attr:`receiving`, ``md5`` its hex MD5) into place as the
        object; the file is gone afterwards, stored or not."""
        try:
            return self._store(bucket, key, [], md5, content_type, metadata, received)
        finally:
            received.unlink(missing_ok=True)

    def head(self, bucket: str, key: str) -> tuple[ObjectInfo, Path]:
        self.require_bucket(bucket)
        if not _storable(key):
            # a valid S3 key (a folder marker such as `train/`) that cannot be here: S3 answers 404
            raise no_such_key(key)
        path = self._object_path(bucket, key)
        if not path.is_file():
            raise no_such_key(key)
        return self._info(bucket, key, path), path

    def delete(self, bucket: str, key: str) -> None:
        """Delete an object; deleting a missing key succeeds, as on S3."""
        self.require_bucket(bucket)
        if not _storable(key):
            return
        with self._lock:
            path = self._object_path(bucket, key)
            if path.is_file():
                path.unlink()
                self._prune_empty_folders(path.parent, self._bucket_path(bucket))
            self._sidecar(bucket, key).unlink(missing_ok=True)

    def copy(
        self, source: tuple[str, str], bucket: str, key: str, replace: tuple[str, dict[str, str]] | None
    ) -> ObjectInfo:
        """Copy ``source`` (bucket, key); ``replace``: new (content type, metadata), else the source's."""
        info, path = self.head(*source)
        content_type, metadata = replace or (info.content_type, info.metadata)
        return self._store(bucket, key, [path], None, content_type, metadata)

    def keys(self, bucket: str, prefix: str) -> list[str]:
        """Every key of ``bucket`` starting with ``prefix``, in S3's order (UTF-8 bytes)."""
        root = self.require_bucket(bucket)
        # start the walk at the deepest folder the prefix names
        parts = PurePosixPath(prefix).parts
        folders = parts if prefix.endswith("/") else parts[:-1]
        if prefix.startswith("/") or ".." in parts:
            return []
        start = root.joinpath(*(stored_segment(folder) for folder in folders))
        if not start.is_dir():
            return []
        found = []
        for folder, dirs, files in os.walk(start):
            dirs[:] = [name for name in dirs if not Path(folder, name).is_symlink()]
            for name in files:
                path = Path(folder, name)
                if path.is_symlink():
                    continue
                key = self._segments.real_key(path.relative_to(root).as_posix())
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found, key=lambda key: key.encode())

    def info(self, bucket: str, key: str) -> ObjectInfo:
        return self._info(bucket, key, self._object_path(bucket, key))

    # --- multipart uploads ---------------------------------------------------------------------

    def create_upload(self, bucket: str, key: str, content_type: str, metadata: dict[str, str]) -> str:
        self.require_bucket(bucket)
        self._object_path(bucket, key)  # refuse a bad key now, not at completion
        upload_id = uuid.uuid4().hex
        record = {"key": key, "content_type": content_type, "metadata": metadata}
        self._write_json(self._upload_dir(bucket, upload_id) / "upload.json", record)
        return upload_id

    def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, received: Path, md5: str
    ) -> str:
        """Move ``received`` (a file of :attr:`receiving`) into the upload as part ``number``;
        the file is gone afterwards, taken or not."""
        try:
            upload = self._upload(bucket, key, upload_id)
            if not 1 <= number <= MAX_PART_NUMBER:
                raise S3Error(
                    "InvalidArgument",
                    f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
                    400,
                    ArgumentName="partNumber",
                    ArgumentValue=str(number),
                )
            os.replace(received, upload / f"{number:05d}.part")
        finally:
            received.unlink(missing_ok=True)
        return f'"{md5}"'

    def complete_upload(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        upload = self._upload(bucket, key, upload_id)
        if not parts:
            raise S3Error(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
                400,
            )
        numbers = [number for number, _ in parts]
        if numbers != sorted(set(numbers)):
            raise S3Error(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list "
                "must be specified in order by part number.",
                400,
                UploadId=upload_id,
            )
        files, digests = [], []
        for index, (number, etag) in enumerate(parts):
            path = upload / f"{number:05d}.part"
            digest = hashlib.md5(path.read_bytes()).digest() if path.is_file() else b""
            if not digest or etag.strip('"') != digest.hex():
                raise S3Error(
                    "InvalidPart",
                    "One or more of the specified parts could not be found. The part "
                    "may not have been uploaded, or the specified entity tag may not match the "
                    "part's entity tag.",
                    400,
                    UploadId=upload_id,
                    PartNumber=str(number),
                )
            if index < len(parts) - 1 and path.stat().st_size < MIN_PART_SIZE:
                raise S3Error(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    400,
                    PartNumber=str(number),
                    MinSizeAllowed=str(MIN_PART_SIZE),
                )
            files.append(path)
            digests.append(digest)
        record = self._read_json(upload / "upload.json")
        etag = f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(parts)}"
        metadata = record.get("metadata")
        info = self._store(bucket, key, files, etag, str(record["content_type"]), _str_dict(metadata))
        shutil.rmtree(upload, ignore_errors=True)
        return info

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        shutil.rmtree(self._upload(bucket, key, upload_id))

    # --- internals -----------------------------------------------------------------------------

    def _bucket_path(self, bucket: str) -> Path:
        try:
            return self.s3.object_path(f"s3://{bucket}")
        except ValueError:
            raise no_such_bucket(bucket) from None

    def _object_path(self, bucket: str, key: str) -> Path:
        if len(key.encode()) > MAX_KEY_BYTES:
            raise S3Error("KeyTooLongError", "Your key is too long", 400, Key=key[:64])
        if not _storable(key):
            raise S3Error(
                "InvalidArgument",
                f"The key {key!r} cannot be stored by the local backend: it keeps objects as files, so a key "
                "must not be empty, end with '/', or contain empty or '.' segments.",
                400,
                Key=key,
            )
        try:
            return self.s3.object_path(f"s3://{bucket}/{stored_key(key)}")
        except ValueError as exc:
            raise S3Error("InvalidArgument", f"The key {key!r} is refused: {exc}", 400, Key=key) from None

    def _meta_dir(self, bucket: str) -> Path:
        return self.meta_root / "buckets" / bucket

    def _sidecar(self, bucket: str, key: str) -> Path:
        return self._meta_dir(bucket) / "objects" / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _upload_dir(self, bucket: str, upload_id: str) -> Path:
        return self._meta_dir(bucket) / "uploads" / upload_id

    def _upload(self, bucket: str, key: str, upload_id: str) -> Path:
        self.require_bucket(bucket)
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            raise no_such_upload(upload_id)
        upload = self._upload_dir(bucket, upload_id)
        if not (upload / "upload.json").is_file() or self._read_json(upload / "upload.json")["key"] != key:
            raise no_such_upload(upload_id)
        return upload

    def _bucket_created(self, bucket: str) -> datetime:
        created = self._read_json(self._meta_dir(bucket) / "bucket.json").get("created")
        if created:
            return datetime.fromisoformat(str(created))
        return datetime.fromtimestamp(self._bucket_path(bucket).stat().st_mtime, UTC)

    def _info(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        stat = path.stat()
        recorded = self._read_json(self._sidecar(bucket, key))
        if recorded.get("size") == stat.st_size and recorded.get("mtime_ns") == stat.st_mtime_ns:
            metadata = recorded.get("metadata")
            return ObjectInfo(
                key,
                stat.st_size,
                str(recorded["etag"]),
                stat.st_mtime_ns,
                str(recorded["content_type"]),
                {str(name): str(value) for name, value in metadata.items()}
                if isinstance(metadata, dict)
                else {},
            )
        # written by something else (a training job): its ETag is the MD5 of what is there now
        digest = hashlib.md5()
        for chunk in file_chunks(path):
            digest.update(chunk)
        info = ObjectInfo(key, stat.st_size, f'"{digest.hexdigest()}"', stat.st_mtime_ns)
        self._write_json(self._sidecar(bucket, key), asdict(info))
        return info

    def _store(
        self,
        bucket: str,
        key: str,
        sources: list[bytes] | list[Path],
        etag: str | None,
        content_type: str,
        metadata: dict[str, str],
        written: Path | None = None,
    ) -> ObjectInfo:
        """Write the concatenation of ``sources`` as the object; ``etag=None``: the MD5 of its bytes.
        ``written``: a file of :attr:`receiving` holding the object already (moved, not copied)."""
        self.require_bucket(bucket)
        target = self._object_path(bucket, key)
        temporary = written or self._tmp / uuid.uuid4().hex
        try:
            return self._place(bucket, key, target, temporary, sources, etag, content_type, metadata)
        finally:
            temporary.unlink(missing_ok=True)  # moved into place, or failed: never left behind

    def _place(
        self,
        bucket: str,
        key: str,
        target: Path,
        temporary: Path,
        sources: list[bytes] | list[Path],
        etag: str | None,
        content_type: str,
        metadata: dict[str, str],
    ) -> ObjectInfo:
        digest = hashlib.md5()
        if sources:
            with temporary.open("wb") as out:
                for source in sources:
                    chunks = file_chunks(source) if isinstance(source, Path) else iter([source])
                    for chunk in chunks:
                        digest.update(chunk)
                        out.write(chunk)
        with self._lock:
            self._segments.record(key)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_dir():
                    raise NotADirectoryError(target)
                os.replace(temporary, target)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                raise S3Error(
                    "InvalidArgument",
                    f"The key {key!r} cannot be stored by the local backend: it keeps objects as files, and "
                    "this key would be both a file and a folder (another key is it plus '/...', or a prefix "
                    "of it is an object).",
                    400,
                    Key=key,
                ) from None
            stat = target.stat()
            etag = etag or digest.hexdigest()
            info = ObjectInfo(key, stat.st_size, f'"{etag}"', stat.st_mtime_ns, content_type, metadata)
            self._write_json(self._sidecar(bucket, key), asdict(info))
        return info

    def _prune_empty_folders(self, folder: Path, bucket_root: Path) -> None:
        """S3 has no folders: once a prefix's last object is gone, so is the prefix."""
        while folder != bucket_root and folder.is_relative_to(bucket_root) and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent

    def _write_bytes(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._tmp / uuid.uuid4().hex
        try:
            temporary.write_bytes(data)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def _write_json(self, path: Path, record: Mapping[str, object]) -> None:
        self._write_bytes(path, json.dumps(record).encode())

    def _read_json(self, path: Path) -> dict[str, object]:
        try:
            record = json.loads(path.read_bytes())
        except (FileNotFoundError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}


def _storable(key: str) -> bool:
    """Whether a key can be a file: not empty, no trailing '/', no empty or '.' segments."""
    return bool(key) and not key.endswith("/") and str(PurePosixPath(key)) == key


def _str_dict(value: object) -> dict[str, str]:
    return {str(name): str(item) for name, item in value.items()} if isinstance(value, dict) else {}

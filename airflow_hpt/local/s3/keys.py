"""S3 keys as file paths: S3 allows 1,024 bytes a key, a file system 255 bytes a file name.

A segment longer than a file name may be, or one that looks like a hashed name, is stored under
``~long-<sha256 of the segment>``; its real name is kept in a small file of its own
(:class:`SegmentNames`), read back when the store lists keys.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

# S3's limit on a key (UTF-8 bytes), and the file system's on a file name (NAME_MAX)
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
HASHED_SEGMENT_PREFIX = "~long-"


def stored_key(key: str) -> str:
    """The path, relative to its bucket, of the file holding ``key``."""
    return "/".join(stored_segment(segment) for segment in key.split("/"))


def stored_segment(segment: str) -> str:
    if len(segment.encode()) <= MAX_SEGMENT_BYTES and not segment.startswith(HASHED_SEGMENT_PREFIX):
        return segment
    return HASHED_SEGMENT_PREFIX + hashlib.sha256(segment.encode()).hexdigest()


class SegmentNames:
    """The real names of the segments stored under hashed names, a file each in ``folder``,
    written with ``write`` (the store's atomic write)."""

    def __init__(self, folder: Path, write: Callable[[Path, bytes], None]) -> None:
        self.folder = folder
        self._write = write

    def record(self, key: str) -> None:
        for segment in key.split("/"):
            name = stored_segment(segment)
            if name != segment and not (self.folder / name).is_file():
                self._write(self.folder / name, segment.encode())

    def real_key(self, stored: str) -> str:
        segments = []
        for name in stored.split("/"):
            if name.startswith(HASHED_SEGMENT_PREFIX):
                # not one of ours (written by a training job): the file's name is its key
                with contextlib.suppress(FileNotFoundError, UnicodeDecodeError):
                    name = (self.folder / name).read_bytes().decode()
            segments.append(name)
        return "/".join(segments)

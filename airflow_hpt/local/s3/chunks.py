"""A file's bytes a chunk at a time: whole (to hash it, to copy it) or a range of them (a ranged GET)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def file_chunks(path: Path, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as source:
        yield from iter(lambda: source.read(chunk_size), b"")


def iter_range(path: Path, start: int, stop: int, chunk_size: int = 1 << 16) -> Iterator[bytes]:
    """The bytes ``[start, stop)`` of a file, a chunk at a time."""
    with path.open("rb") as source:
        source.seek(start)
        remaining = stop - start
        while remaining > 0:
            chunk = source.read(min(chunk_size, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

"""The log streams of jobs and model servers: a log file and its times file, read as CloudWatch events."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_hpt.local.training.runner import HOST


@dataclass(frozen=True)
class LogEvent:
    timestamp: int  # epoch milliseconds
    message: str


def read_events(log: Path, log_times: Path, complete: bool, default_ms: int) -> list[LogEvent]:
    """The events of a log; ``complete``: its writer is done, its last line is final.

    The log is read before its times file, which its writer writes first: every byte read has
    its time. A log from before the times file existed gets ``default_ms`` throughout.
    """
    try:
        data = log.read_bytes()
    except FileNotFoundError:
        return []
    offsets: list[int] = []
    times: list[int] = []
    try:
        for line in log_times.read_text(encoding="ascii").splitlines():
            offset, _, millis = line.partition(" ")
            if millis:  # a line being written has no time yet
                offsets.append(int(offset))
                times.append(int(millis))
    except FileNotFoundError:
        pass
    events: list[LogEvent] = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            if not complete:
                break
            end = len(data)
        line = data[start:end].decode("utf-8", errors="replace").rstrip("\r")
        if line:
            index = bisect.bisect_right(offsets, start) - 1
            events.append(LogEvent(times[index] if index >= 0 else default_ms, line))
        start = end + 1
    return events


@dataclass(frozen=True)
class LogStream:
    """One stream: its log file and times file, and what its events need that the files lack."""

    name: str
    created: float  # epoch seconds
    log: Path
    log_times: Path
    complete: bool
    default_ms: int

    def events(self) -> list[LogEvent]:
        return read_events(self.log, self.log_times, self.complete, self.default_ms)


def stream_name(record: Mapping[str, Any]) -> str:
    """SageMaker's stream name; the creation time keeps it fixed for the job's whole life."""
    return f"{record['TrainingJobName']}/{HOST}-{int(record['CreationTime'])}"

"""A training job's output: the timed log and the metrics parsed from it.

Beside ``training.log``, for the CloudWatch front (airflow_hpt.local.cloudwatch.logs / metrics): when each
chunk of the log was written (``training.log.times``, "<byte offset> <epoch ms>" lines), and the
parsed metric samples (``metrics.jsonl``, JSON lines). Written by the job's pump thread only.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MetricSample:
    """One regex match in the log; ``step`` counts this metric's occurrences from 0."""

    name: str
    value: float
    timestamp: datetime
    step: int


class MetricParser:
    """Applies MetricDefinitions to log lines; thread-safe hand-over of new samples."""

    def __init__(self, definitions: Sequence[Mapping[str, str]], samples_file: Path | None = None) -> None:
        self._patterns = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
        self._samples_file = samples_file
        self._lock = threading.Lock()
        self._pending: list[MetricSample] = []
        self._counts: dict[str, int] = {}
        self.last: dict[str, float] = {}

    def feed(self, line: str) -> bool:
        """Parse one line; whether it held a sample."""
        found = False
        for name, pattern in self._patterns:
            for match in pattern.finditer(line):
                value = self._value(match)
                if value is not None:
                    self._record(name, value)
                    found = True
        return found

    @staticmethod
    def _value(match: re.Match[str]) -> float | None:
        text = match.group(1) if match.re.groups else match.group(0)
        try:
            return float(text)
        except (TypeError, ValueError):
            # SageMaker skips matches that are not numbers
            return None

    def _record(self, name: str, value: float) -> None:
        with self._lock:
            step = self._counts.get(name, 0)
            self._counts[name] = step + 1
            self.last[name] = value
            sample = MetricSample(name, value, now(), step)
            self._pending.append(sample)
            if self._samples_file is not None:
                with open(self._samples_file, "a", encoding="utf-8") as samples:
                    samples.write(
                        json.dumps(
                            {
                                "name": name,
                                "value": value,
                                "timestamp": sample.timestamp.timestamp(),
                                "step": step,
                            }
                        )
                        + "\n"
                    )

    def take(self) -> list[MetricSample]:
        with self._lock:
            samples, self._pending = self._pending, []
            return samples

    def final(self) -> dict[str, float]:
        with self._lock:
            return dict(self.last)


class TimedLog:
    """Appends to a log (a job's, a model server's), noting in a times file when each chunk was written.

    The note is written before the chunk: a reader that reads the log, then the times, finds a
    time for every byte it read.
    """

    def __init__(self, log: Path, log_times: Path) -> None:
        self._offset = log.stat().st_size if log.exists() else 0
        self._log = open(log, "ab")  # noqa: SIM115 -- closed by close()
        self._times = open(log_times, "a", encoding="ascii")  # noqa: SIM115

    def write(self, chunk: bytes) -> None:
        self._times.write(f"{self._offset} {time.time_ns() // 1_000_000}\n")
        self._times.flush()
        self._log.write(chunk)
        # flushed per write so that the log can be followed while the job runs
        self._log.flush()
        self._offset += len(chunk)

    def close(self) -> None:
        self._log.close()
        self._times.close()

    def __enter__(self) -> TimedLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

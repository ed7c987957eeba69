"""Fault injection: answer a seeded fraction of calls with a throttle or a server error.

Clients of SageMaker must survive ``ThrottlingException`` (HTTP 400, which botocore retries)
and 5xx answers; tests use this to prove that they do. The draw is seeded, so a test run is
repeatable for a given order of calls.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from airflow_hpt.local.http.errors import INTERNAL_FAILURE, THROTTLING

# (code, HTTP status, message) of the faults SageMaker actually returns
THROTTLE = (THROTTLING, 400, "Rate exceeded")
SERVER_ERRORS = (
    (INTERNAL_FAILURE, 500, "We encountered an internal error. Please try again."),
    ("ServiceUnavailable", 503, "Service is unavailable. Please try again."),
)


@dataclass(frozen=True)
class Fault:
    code: str
    status: int
    message: str


@dataclass
class Faults:
    """Which fraction of calls fail, per operation.

    ``rates`` maps an operation name (or ``"*"`` for any other) to a probability in [0, 1];
    ``server_error_share`` is the part of the injected faults that are 5xx instead of throttles.
    """

    rates: Mapping[str, float] = field(default_factory=dict)
    server_error_share: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for operation, rate in self.rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate for {operation} must be within [0, 1], got {rate}")
        if not 0.0 <= self.server_error_share <= 1.0:
            raise ValueError(f"server_error_share must be within [0, 1], got {self.server_error_share}")
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}

    @classmethod
    def parse(cls, spec: str, *, server_error_share: float = 0.0, seed: int = 0) -> Faults:
        """From ``"DescribeHyperParameterTuningJob=0.3,*=0.05"`` (the CLI's spelling)."""
        rates: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            operation, sep, rate = item.partition("=")
            if not sep:
                raise ValueError(f"fault spec item {item!r} must be OPERATION=RATE")
            rates[operation.strip()] = float(rate)
        return cls(rates, server_error_share=server_error_share, seed=seed)

    def draw(self, operation: str) -> Fault | None:
        """The fault to answer this call with, or None to serve it."""
        rate = self.rates.get(operation, self.rates.get("*", 0.0))
        if rate <= 0.0:
            return None
        with self._lock:
            if self._random.random() >= rate:
                return None
            if self._random.random() < self.server_error_share:
                fault = Fault(*self._random.choice(SERVER_ERRORS))
            else:
                fault = Fault(*THROTTLE)
            self.injected[operation] = self.injected.get(operation, 0) + 1
            return fault

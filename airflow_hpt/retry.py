"""Backoff policy for polling through transient faults, and how long a Create retries them.
No Airflow or boto3 import."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# How long a Create is retried through transient faults before the task fails: unlike a wait, a
# Create has no deadline of its own, and an outage should fail the task, not hold it for ever.
CREATE_RETRY_SECONDS = 300.0


@dataclass
class Backoff:
    """Exponential backoff with full jitter (the AWS architecture blog's recommendation).

    Full jitter spreads the retries of many waiting tasks apart, so a throttled account is not hit
    again by all of them at the same instant.
    """

    base: float = 1.0
    cap: float = 60.0
    failures: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """Record one more consecutive failure and return how long to wait before the next try."""
        self.failures += 1
        ceiling = min(self.cap, self.base * 2 ** min(self.failures - 1, 30))
        return self._random.uniform(0, ceiling)

    def reset(self) -> None:
        self.failures = 0

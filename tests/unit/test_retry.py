from __future__ import annotations

import random

from airflow_hpt.retry import Backoff


def test_backoff_grows_exponentially_within_cap_with_jitter() -> None:
    backoff = Backoff(base=1.0, cap=8.0, _random=random.Random(7))
    delays = [backoff.next_delay() for _ in range(50)]
    assert all(0 <= delay <= 8.0 for delay in delays)
    assert delays[0] <= 1.0 and delays[1] <= 2.0 and delays[2] <= 4.0
    assert len(set(delays)) > 40, "full jitter spreads the delays"
    assert max(delays[10:]) > 4.0, "later delays reach towards the cap"
    backoff.reset()
    assert backoff.next_delay() <= 1.0

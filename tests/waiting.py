"""Waiting on state, never on the clock: poll a condition until it holds, fail after a generous deadline.

The suite runs on loaded 2-core machines, where a step that takes milliseconds alone can take
seconds. A test therefore never sleeps for a while and hopes that something happened meanwhile,
and never asserts how long something took: it polls the state it needs, with a deadline far
beyond any plausible slowness that only a real failure reaches.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

PATIENCE_SECONDS = 120.0
# a boto3 waiter's WaiterConfig with the same patience: endpoint_in_service's own (30 s apart, 120
# tries) would slow the suite, a short one (50 tries of 0.1 s) fails on a loaded machine
PATIENT_WAITER = {"Delay": 0.2, "MaxAttempts": int(PATIENCE_SECONDS / 0.2)}


def wait_until(
    what: str,
    check: Callable[[], T | None],
    timeout: float = PATIENCE_SECONDS,
    interval: float = 0.05,
    context: Callable[[], str] = str,
) -> T:
    """``check()`` every ``interval`` until it gives a true value, which is returned.

    Fails after ``timeout`` seconds naming ``what`` was awaited, with ``context()`` (e.g. a log tail).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{context()}")
        time.sleep(interval)


async def wait_until_async(
    what: str, check: Callable[[], T | None], timeout: float = PATIENCE_SECONDS, interval: float = 0.05
) -> T:
    """:func:`wait_until` inside an event loop: the loop runs on while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)

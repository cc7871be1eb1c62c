"""One deadline for every wait in the tests.

Tests wait for a position, an event or an answer, never for a fixed time; DEADLINE only
bounds how long a wait may take before it is called a failure, so a slow or busy machine
(a loaded CI runner) makes a test slower, never red. LEDGER_TEST_DEADLINE_SCALE multiplies
it (2 doubles every bound).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

SCALE = float(os.environ.get("LEDGER_TEST_DEADLINE_SCALE", "1"))
DEADLINE = 60.0 * SCALE  # seconds
# How often a wait looks again: short beside any step it waits for.
POLL = 0.02


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Returns as soon as `condition()` holds; fails after DEADLINE naming `what`."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {DEADLINE:.0f}s waiting for {what}")
        time.sleep(POLL)

"""Whether the live projection is stalled: behind the log's head with no progress since a
given time (its projector dead, or stuck on one batch)."""

from __future__ import annotations

import threading
import time


class ProgressWatch:
    """Remembers when the live position last moved, as seen by the calls to `stalled_for`
    (the readiness probe's): a projector that moves between two probes is not stalled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._position = -1
        self._since = time.monotonic()

    def stalled_for(self, position: int, head: int) -> float:
        """Seconds the projection has been behind `head` without moving from `position`."""
        now = time.monotonic()
        with self._lock:
            if position != self._position or position >= head:
                self._position, self._since = position, now
                return 0.0
            return now - self._since

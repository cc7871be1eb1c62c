"""Ping a pooled PostgreSQL connection on checkout only when it has not been used lately.

The library's pre-ping (`POSTGRES_PRE_PING`) costs one extra round trip on every checkout:
under load that is a third of a progress read's database time and several of a command's.
A connection handed out within the last `IDLE_SECONDS` has just proved itself alive, so
only connections that sat idle are pinged: a database restarted while the server was quiet
is still noticed before any request uses a dead connection; during a busy restart a
request on a just-used connection fails as any in-flight request would, and the pool
discards that connection.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

IDLE_SECONDS = 1.0

Check = Callable[[Any], None]


class PingWhenIdle:
    def __init__(self, ping: Check, idle_seconds: float = IDLE_SECONDS) -> None:
        self.ping = ping
        self.idle_seconds = idle_seconds
        self.handed_out: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def __call__(self, connection: Any) -> None:
        now = time.monotonic()
        last = self.handed_out.get(connection)
        if last is None or now - last >= self.idle_seconds:
            self.ping(connection)
        self.handed_out[connection] = now


def ping_only_idle_connections(datastore: Any) -> None:
    """Replace the pool's every-checkout ping (psycopg_pool's `check`) by `PingWhenIdle`;
    nothing to do for SQLite or when pre-ping is off."""
    pool = getattr(datastore, "pool", None)
    ping = getattr(pool, "_check", None)  # psycopg_pool takes `check` only at construction
    if ping is not None and not isinstance(ping, PingWhenIdle):
        pool._check = PingWhenIdle(ping)  # type: ignore[union-attr]

"""Pools that replace lost connections every second, instead of backing off to minutes.

psycopg_pool waits 1, 2, 4, ... seconds between attempts to replace a lost connection, so
after a minute's outage a pool could stay empty for another minute. Its backoff is a class
attribute of `AttemptWithBackoff`, shared by every pool in the process; rather than change
it for all of them, each pool given here starts its reconnections with an attempt of its
own kind. `tests/test_pool_reconnects.py` checks the private step this relies on.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool, ConnectionPool
from psycopg_pool.base import AttemptWithBackoff


class SteadyAttempt(AttemptWithBackoff):
    DELAY_BACKOFF = 1.0


def reconnect_steadily(pool: ConnectionPool[Any]) -> None:
    """Makes this pool (and no other) retry a lost connection every second."""
    add_connection = pool._add_connection

    def add_steadily(attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        add_connection(attempt or SteadyAttempt(timeout=pool.reconnect_timeout), growing)

    pool._add_connection = add_steadily  # type: ignore[method-assign]


def reconnect_steadily_async(pool: AsyncConnectionPool[Any]) -> None:
    """The same, for an asyncio pool."""
    add_connection = pool._add_connection

    async def add_steadily(attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        await add_connection(attempt or SteadyAttempt(timeout=pool.reconnect_timeout), growing)

    pool._add_connection = add_steadily  # type: ignore[method-assign]

"""A pool of asyncio connections for the hottest reads, on the event loop (PostgreSQL).

A read costs no threadpool hop and no fight for the GIL among threads: one prepared
statement, one round trip, one snapshot.
"""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError
from psycopg_pool import AsyncConnectionPool, PoolTimeout, TooManyRequests

from eventstore.pool_reconnects import reconnect_steadily_async


class AsyncReadPool:
    def __init__(self, conninfo: str, *, pool_size: int, timeout: float) -> None:
        # No ping on every checkout: a connection the database dropped fails its statement at
        # once, and `fetch_one` then checks the idle connections and retries once.
        self.pool = AsyncConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=pool_size,
            max_size=pool_size,
            timeout=timeout,
            max_waiting=256,
            open=False,
            name="live-reads",
        )
        reconnect_steadily_async(self.pool)

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def fetch_one(self, statement: str, params: tuple[str, ...]) -> tuple[Any, ...] | None:
        """The statement's first row; the library's OperationalError when the database is
        away."""
        try:
            try:
                return await self._fetch_once(statement, params)
            except (PoolTimeout, TooManyRequests):
                raise  # no connection to be had: the database is away, or we are overloaded
            except psycopg.OperationalError:
                # A connection lost since its last use (the database restarted): drop every
                # dead idle one, then read again, once, on a live connection. Reads are safe
                # to repeat.
                await self.pool.check()
                return await self._fetch_once(statement, params)
        except psycopg.OperationalError as error:
            raise OperationalError(str(error)) from error

    async def _fetch_once(self, statement: str, params: tuple[str, ...]) -> tuple[Any, ...] | None:
        async with self.pool.connection() as connection:
            cursor = await connection.execute(statement, params, prepare=True)
            return await cursor.fetchone()

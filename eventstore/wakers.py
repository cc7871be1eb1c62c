"""How a projector learns that new events exist: LISTEN/NOTIFY on PostgreSQL, a local signal
(plus a timeout, for writers in other processes) on SQLite."""

from __future__ import annotations

import threading
from typing import Protocol

import psycopg


class Waker(Protocol):
    def wait(self, timeout: float) -> None: ...

    def wake(self) -> None: ...

    def close(self) -> None: ...


class LocalWaker:
    def __init__(self) -> None:
        self._event = threading.Event()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()

    def wake(self) -> None:
        self._event.set()

    def close(self) -> None:
        self._event.set()


class PostgresWaker:
    """Listens on the channel the event store NOTIFYs on every insert."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self._local = LocalWaker()
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None

    def wait(self, timeout: float) -> None:
        try:
            connection = self._listen()
            for _ in connection.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error:
            # The database is away: drop the connection and let the caller's loop back off.
            self._drop()
            self._local.wait(min(timeout, 1.0))

    def wake(self) -> None:
        self._local.wake()

    def close(self) -> None:
        self._drop()

    def _listen(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            connection = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=3)
            connection.execute(f'LISTEN "{self.channel}"')
            self._connection = connection
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

"""How a projector learns that new events exist: LISTEN/NOTIFY on PostgreSQL; on SQLite a
local signal, and for writers in other processes (a second API, `import`) a cheap poll of
the file's `PRAGMA data_version`, which changes whenever another connection commits."""

from __future__ import annotations

import sqlite3
import threading
import time
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


class SqliteWaker:
    """A local signal, or a commit to the file by any other connection, within `poll`."""

    def __init__(self, database: str, poll: float = 0.05) -> None:
        self.database = database
        self.poll = poll
        self._event = threading.Event()
        self._connection: sqlite3.Connection | None = None
        self._version: int | None = None

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._event.is_set():
            if self._committed_elsewhere():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._event.wait(min(remaining, self.poll))
        self._event.clear()

    def wake(self) -> None:
        self._event.set()

    def close(self) -> None:
        self._event.set()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _committed_elsewhere(self) -> bool:
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    self.database, check_same_thread=False, uri=self.database.startswith("file:")
                )
            version = int(self._connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return False  # the caller's loop reads the log anyway at its timeout
        changed = self._version is not None and version != self._version
        self._version = version
        return changed


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

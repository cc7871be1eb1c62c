"""One projector at a time: a PostgreSQL advisory lock held on a connection of its own.

A second projector started by mistake waits (following the live position only) and takes
over when the first dies, since PostgreSQL frees the lock with the dead session. The lock
saves work, not correctness: BatchWrites.write refuses a batch from a projector that
lost a race (PositionConflict), so even a brief overlap cannot count anything twice.
SQLite is one file served by one process, so it needs no lock.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Protocol

import psycopg

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0  # seconds between checks that the lock's connection is still alive


class ProjectorLock(Protocol):
    def __call__(self) -> bool:
        """Whether this process is (still, or now) the projector."""

    def close(self) -> None: ...


class NoLock:
    def __call__(self) -> bool:
        return True

    def close(self) -> None:
        pass


def lock_key(schema: str) -> int:
    """A 64-bit advisory lock key per schema, so ledgers in other schemas do not collide."""
    digest = hashlib.sha256(f"progress-ledger projector {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    def __init__(self, conninfo: str, key: int) -> None:
        self.conninfo = conninfo
        self.key = key
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._held = False
        self._said_waiting = False
        self._checked = 0.0

    def __call__(self) -> bool:
        try:
            if self._held:
                # A round trip per wake-up would cost the live projector more than its batch;
                # a lost lock costs no correctness (writes are claimed), so check once a second.
                now = time.monotonic()
                if now - self._checked >= CHECK_EVERY:
                    self._session().execute("SELECT 1")
                    self._checked = now
                return True
            row = self._session().execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error as error:
            if self._held:
                log.warning("projector lock lost with its connection: %s", error)
            self._drop()
            return False
        self._held = bool(row and row[0])
        self._checked = time.monotonic()
        if self._held:
            log.info("projector lock %d acquired: this process projects", self.key)
            self._said_waiting = False
        elif not self._said_waiting:
            log.info("projector lock %d is held by another process: waiting", self.key)
            self._said_waiting = True
        return self._held

    def close(self) -> None:
        self._drop()

    def _session(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=3)
        return self._connection

    def _drop(self) -> None:
        self._held = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

"""The event store's application recorders, chosen through the library's
APPLICATION_RECORDER_TOPIC (see api/environment.py). They add two things:

- a request's Idempotency-Key row is written inside the very transaction that inserts its
  events (or, for a command that appends nothing, in a transaction of its own);
- on PostgreSQL, an outage fails fast: the library retries each call ten times, and each
  try may wait the whole connect timeout for the pool, so a request could hang for half a
  minute. Here a call is tried again once, and only when a connection broke (not when none
  could be had), and the pool reconnects every second rather than backing off to minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg_pool.base
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from api.idempotency import TABLE, IdempotencyKeyTaken, now_text, pending_claims
from ingest.copy_recorder import CopyingApplicationRecorder
from projections.retries import retry_once

COLUMNS = (
    "key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, created_at TEXT NOT NULL, "
    "status INTEGER, media_type TEXT, body TEXT"
)


class SQLiteIdempotentRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.create_table_statements.append(f"CREATE TABLE IF NOT EXISTS {TABLE} ({COLUMNS})")

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        claims = pending_claims(kwargs)
        ids = super().insert_events(stored_events, idempotency=claims, **_without(kwargs))
        for claim in claims:
            claim.recorded = True
        return ids

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        for claim in kwargs.get("idempotency", ()):
            c.execute(
                f"INSERT OR IGNORE INTO {TABLE} (key, fingerprint, created_at) VALUES (?, ?, ?)",
                (claim.key, claim.fingerprint, now_text()),
            )
            if c.sqlite_cursor.rowcount == 0:
                raise IdempotencyKeyTaken(claim.key)
        return super()._insert_events(c, stored_events, **kwargs)


F = TypeVar("F", bound=Callable[..., Any])


def unretried(method: F) -> F:
    """The library's method without its ten-attempt retry decorator."""
    inner: F = getattr(method, "__wrapped__", method)
    return inner


def reconnect_every_second() -> None:
    # psycopg_pool waits 1, 2, 4, ... seconds between attempts to replace a lost connection,
    # so after a minute's outage the pool could stay empty for another minute.
    psycopg_pool.base.AttemptWithBackoff.DELAY_BACKOFF = 1.0


class PostgresIdempotentRecorder(CopyingApplicationRecorder):
    select_events = retry_once(unretried(PostgresApplicationRecorder.select_events))
    select_notifications = retry_once(unretried(PostgresApplicationRecorder.select_notifications))
    max_notification_id = retry_once(unretried(PostgresApplicationRecorder.max_notification_id))

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        reconnect_every_second()
        self.idempotency_table = SQL("{0}.{1}").format(
            Identifier(datastore.schema or "public"), Identifier(TABLE)
        )
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {0} (" + COLUMNS + ")").format(self.idempotency_table)
        )

    @retry_once
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        claims = pending_claims(kwargs)
        insert = unretried(CopyingApplicationRecorder.insert_events)
        ids: Sequence[int] | None = insert(
            self, stored_events, idempotency=claims, **_without(kwargs)
        )
        for claim in claims:
            claim.recorded = True
        return ids

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        for claim in kwargs.get("idempotency", ()):
            # Taken before the events table's lock, so a second request with the same key
            # waits here for the first to commit, then finds the row.
            curs.execute(
                SQL(
                    "INSERT INTO {0} (key, fingerprint, created_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (key) DO NOTHING RETURNING key"
                ).format(self.idempotency_table),
                (claim.key, claim.fingerprint, now_text()),
            )
            if curs.fetchone() is None:
                raise IdempotencyKeyTaken(claim.key)
        super()._insert_events(curs, stored_events, **kwargs)


def _without(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in kwargs.items() if name != "idempotency"}

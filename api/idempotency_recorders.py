"""Application recorders that write a request's Idempotency-Key row inside the very
transaction that inserts its events (or, for a command that appends nothing, in a
transaction of its own). Chosen through the library's APPLICATION_RECORDER_TOPIC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from api.idempotency import TABLE, IdempotencyKeyTaken, now_text, pending_claims

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


class PostgresIdempotentRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.idempotency_table = SQL("{0}.{1}").format(
            Identifier(datastore.schema or "public"), Identifier(TABLE)
        )
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {0} (" + COLUMNS + ")").format(self.idempotency_table)
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        claims = pending_claims(kwargs)
        ids: Sequence[int] | None = super().insert_events(
            stored_events, idempotency=claims, **_without(kwargs)
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

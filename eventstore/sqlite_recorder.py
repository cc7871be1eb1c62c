"""The SQLite event store's application recorder (chosen through the library's
APPLICATION_RECORDER_TOPIC, see eventstore/environment.py): a request's Idempotency-Key row
is written inside the very transaction that inserts its events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from eventstore.idempotency_keys import (
    COLUMNS,
    TABLE,
    IdempotencyKeyTaken,
    now_text,
    pending_claims,
    without_claims,
)


class SQLiteIdempotentRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.create_table_statements.append(f"CREATE TABLE IF NOT EXISTS {TABLE} ({COLUMNS})")

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        claims = pending_claims(kwargs)
        ids = super().insert_events(stored_events, idempotency=claims, **without_claims(kwargs))
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

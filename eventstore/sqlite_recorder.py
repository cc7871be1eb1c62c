"""The SQLite event store's application recorder (chosen through the library's
APPLICATION_RECORDER_TOPIC, see eventstore/environment.py): a request's Idempotency-Key row
is written inside the very transaction that inserts its events, and the committer reads the
new events of many aggregates with a query per few hundred of them, not one each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from eventstore.database import chunks
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
        # Every write zeroes what it frees (a page split leaves copies of moved rows behind
        # otherwise), so an erased learner's rows leave no bytes in the file: see
        # eventstore/shredding.py. The setting stays with the connection; setting it is cheap.
        c.execute("PRAGMA secure_delete = ON")
        for claim in kwargs.get("idempotency", ()):
            c.execute(
                f"INSERT OR IGNORE INTO {TABLE} (key, fingerprint, created_at, stream) "
                "VALUES (?, ?, ?, ?)",
                (claim.key, claim.fingerprint, now_text(), claim.stream),
            )
            if c.sqlite_cursor.rowcount == 0:
                raise IdempotencyKeyTaken(claim.key)
        return super()._insert_events(c, stored_events, **kwargs)

    def taken_keys(self, keys: list[str]) -> set[str]:
        """Which of the Idempotency-Keys already have a row."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT key FROM {TABLE} WHERE key IN ({', '.join(['?'] * len(keys))})", keys
            )
            return {row["key"] for row in c.fetchall()}

    def select_events_after(self, known: Mapping[UUID, int]) -> list[StoredEvent]:
        """The events of every aggregate after the version given for it, in order: what
        `select_events(id, gt=version)` answers for each, in one statement a chunk."""
        stored: list[StoredEvent] = []
        pairs = list(known.items())
        with self.datastore.transaction(commit=False) as c:
            for chunk in chunks(pairs):
                c.execute(
                    f"WITH known (id, version) AS (VALUES {', '.join(['(?, ?)'] * len(chunk))}) "
                    "SELECT e.originator_id, e.originator_version, e.topic, e.state "
                    f"FROM known JOIN {self.events_table_name} AS e "
                    "ON e.originator_id = known.id AND e.originator_version > known.version "
                    "ORDER BY e.originator_id, e.originator_version",
                    [value for key, version in chunk for value in (key.hex, version)],
                )
                stored.extend(
                    StoredEvent(
                        originator_id=UUID(row["originator_id"]),
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=row["state"],
                    )
                    for row in c.fetchall()
                )
        return stored
